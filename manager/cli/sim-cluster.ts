// The cluster `fleet sim agents` joins when not told: the current context's managers and their worker join token.
import { connector, parseHosts, resolvedConnection } from './connection.js';

export interface LocalCluster {
  managers: string[];
  token: string;
  insecure: boolean;
}

/** Resolved as every command resolves its manager (flags, environment, context, defaults). */
export async function findLocalCluster(insecure: boolean): Promise<LocalCluster> {
  const resolved = await resolvedConnection({ insecure });
  const client = await connector.connect(resolved);
  try {
    const { token } = await client.call('jointoken.get', { role: 'worker', rotate: false });
    return { managers: parseHosts(resolved.host), token, insecure: resolved.insecure };
  } finally {
    await client.close();
  }
}
