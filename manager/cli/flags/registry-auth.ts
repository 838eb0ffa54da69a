// `--with-registry-auth` on `service create` and `update`: the CLI's Docker credentials for the image's registry; and `--registry-fallback`.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseImageReference } from '../../../shared/image-ref.js';
import { credentialsFor, type RegistryAuthValue } from '../../../shared/registry-auth.js';
import { UsageError } from '../usage.js';

export const withRegistryAuthOption = {
  type: 'boolean',
  default: false,
  describe:
    "send this client's Docker credentials for the image's registry (from ~/.docker/config.json) to the nodes that pull it, sealed to each",
} as const;

/** On create and update; on update `--registry-fallback=false` turns it off again. */
export const registryFallbackOption = {
  type: 'boolean',
  describe:
    "when the fleet stores the image but a node cannot get or load its copy, pull the same reference from the image's registry instead of failing the task [default: false]",
} as const;

/** Docker's config file: $DOCKER_CONFIG/config.json, else ~/.docker/config.json. */
export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.DOCKER_CONFIG ?? path.join(os.homedir(), '.docker');
  return path.join(dir, 'config.json');
}

/**
 * The credentials for the image's registry, or a usage error saying why there are none.
 * Only `auths` entries count: credential helpers (`credsStore`, `credHelpers`) are not run.
 */
export async function registryAuthFor(
  image: string,
  file = dockerConfigPath(),
): Promise<RegistryAuthValue> {
  const { registry } = parseImageReference(image);
  let raw: unknown;
  try {
    raw = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : String(e);
    throw new UsageError(
      `--with-registry-auth: cannot read ${file}: ${why}; run docker login ${registry}`,
    );
  }
  const auth = credentialsFor(image, raw);
  if (!auth)
    throw new UsageError(
      `--with-registry-auth: ${file} has no "auths" entry for ${registry} (credential helpers are not read); run docker login ${registry} without a helper`,
    );
  return auth;
}
