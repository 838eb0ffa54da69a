// Reads a Docker engine address, as the docker CLI takes it in DOCKER_HOST or --docker-host, into dockerode's connection options.

/** The engine used when neither a flag nor DOCKER_HOST names one. */
export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';
/** The engine's plain-HTTP port when a tcp:// address gives none (the docker CLI's default). */
const DEFAULT_TCP_PORT = 2375;

/** Where dockerode connects: a local socket, or plain HTTP to host:port. */
export type DockerConnection =
  | { readonly socketPath: string }
  | { readonly host: string; readonly port: number; readonly protocol: 'http' };

export interface DockerHost {
  /** Handed to dockerode's constructor (spread into it, with any timeout of the caller's). */
  readonly options: DockerConnection;
  /** How messages name the engine: the socket's path, or tcp://host:port. */
  readonly display: string;
}

export class DockerHostError extends Error {
  override readonly name = 'DockerHostError';
}

/** The local default engine. */
export function defaultDockerHost(): DockerHost {
  return socketHost(DEFAULT_DOCKER_SOCKET);
}

/**
 * The engine a process should use: the flag when given, else DOCKER_HOST when set and not
 * empty, else the local socket. A bad value throws a DockerHostError naming its source.
 */
export function resolveDockerHost(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
): DockerHost {
  if (flag !== undefined) return parseDockerHost(flag, '--docker-host');
  const fromEnv = env.DOCKER_HOST;
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    const host = parseDockerHost(fromEnv, 'DOCKER_HOST');
    if ('host' in host.options && env.DOCKER_TLS_VERIFY && env.DOCKER_TLS_VERIFY !== '0')
      throw new DockerHostError(
        `DOCKER_TLS_VERIFY is set but TLS to the engine is not supported; use a unix:// socket or plain tcp://`,
      );
    return host;
  }
  return defaultDockerHost();
}

/**
 * unix:///path/to.sock, a plain absolute path, or tcp://host[:port] (plain HTTP). Anything
 * else (ssh://, npipe://, fd://, a relative path, a tcp address with a path) is refused with
 * a DockerHostError naming the source and the forms understood.
 */
export function parseDockerHost(value: string, source = 'the Docker host'): DockerHost {
  const raw = value.trim();
  const bad = (why: string): DockerHostError =>
    new DockerHostError(
      `${source} "${value}" ${why}; expected unix:///path/to/docker.sock, an absolute socket path or tcp://host:port`,
    );
  if (raw === '') throw bad('is empty');
  if (raw.startsWith('/')) return socketHost(raw);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw)?.[1]?.toLowerCase();
  if (scheme === undefined) throw bad('is neither a socket path nor an address with a scheme');
  const rest = raw.slice(scheme.length + 3);
  if (scheme === 'unix') {
    if (rest === '') return defaultDockerHost();
    if (!rest.startsWith('/')) throw bad('names a relative socket path');
    return socketHost(rest);
  }
  if (scheme === 'tcp') return tcpHost(rest, bad);
  throw bad(`uses the ${scheme}:// scheme, which is not supported`);
}

function socketHost(socketPath: string): DockerHost {
  return { options: { socketPath }, display: socketPath };
}

function tcpHost(rest: string, bad: (why: string) => DockerHostError): DockerHost {
  let url: URL;
  try {
    url = new URL(`tcp://${rest}`);
  } catch {
    throw bad('is not a valid tcp address');
  }
  if (url.hostname === '') throw bad('has no host');
  if (url.username || url.password) throw bad('carries credentials');
  if ((url.pathname !== '' && url.pathname !== '/') || url.search || url.hash)
    throw bad('has a path after host:port');
  const port = url.port === '' ? DEFAULT_TCP_PORT : Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad('has a bad port');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const shown = host.includes(':') ? `[${host}]` : host;
  return { options: { host, port, protocol: 'http' }, display: `tcp://${shown}:${port}` };
}
