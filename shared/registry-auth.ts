// Registry credentials as `--with-registry-auth` carries them: their shape, and where they come from in Docker's config.
import { z } from 'zod';
import { parseImageReference } from './image-ref.js';

export const registryAuthSchema = z.object({
  username: z.string().max(1024),
  password: z.string().max(8192),
  serveraddress: z.string().max(512),
});
export type RegistryAuthValue = z.infer<typeof registryAuthSchema>;

const configSchema = z.object({
  auths: z.record(z.string(), z.object({ auth: z.string().optional() }).passthrough()).optional(),
});

/** Docker Hub's key in ~/.docker/config.json. */
const HUB_KEY = 'https://index.docker.io/v1/';

/**
 * The credentials stored for the image's registry in a Docker config file's `auths` (base64
 * "user:pass", as `docker login` writes them without a credential helper), or null. Credential
 * helpers (`credsStore`, `credHelpers`) are not consulted.
 */
export function credentialsFor(image: string, configJson: unknown): RegistryAuthValue | null {
  const parsed = configSchema.safeParse(configJson);
  if (!parsed.success || !parsed.data.auths) return null;
  const { registry } = parseImageReference(image);
  const hub = registry === 'docker.io';
  for (const [key, entry] of Object.entries(parsed.data.auths)) {
    const host = key.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
    const match = hub ? key === HUB_KEY || host === 'docker.io' : host === registry;
    if (!match || !entry.auth) continue;
    const plain = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = plain.indexOf(':');
    if (colon <= 0) continue;
    return {
      username: plain.slice(0, colon),
      password: plain.slice(colon + 1),
      serveraddress: hub ? HUB_KEY : registry,
    };
  }
  return null;
}
