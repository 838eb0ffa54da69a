// A small Docker Engine API client on the engine's unix socket: only the calls the docker runtime makes.
import http from 'node:http';
import type Docker from 'dockerode';

/*
 * dockerode brought docker-modem, ssh2 (which instantiates a 16 MB WebAssembly heap when it is
 * loaded), gRPC and protobufjs into every agent, for an ssh transport and BuildKit sessions the
 * agent never uses: about a quarter of an idle agent's memory. These few calls are plain HTTP.
 * Errors keep dockerode's shape (statusCode, json.message), which the runtime relies on.
 */

/** The engine refused a request: statusCode and the engine's JSON body, as dockerode reported them. */
export class EngineError extends Error {
  constructor(
    readonly statusCode: number,
    readonly json: { message?: string } | null,
    what: string,
  ) {
    super(`(HTTP code ${statusCode}) ${what} - ${json?.message ?? ''}`.trim());
    this.name = 'EngineError';
  }
}

type Query = Record<string, string | number | boolean | Record<string, string[]> | undefined>;

interface RequestOptions {
  query?: Query;
  body?: unknown;
  signal?: AbortSignal;
}

export class DockerApi {
  constructor(private readonly socketPath: string) {}

  info(): Promise<unknown> {
    return this.json('GET', '/info');
  }

  listContainers(opts: {
    all?: boolean;
    filters?: Record<string, string[]>;
  }): Promise<Docker.ContainerInfo[]> {
    return this.json('GET', '/containers/json', {
      query: { all: opts.all, filters: opts.filters },
    });
  }

  async createContainer(opts: Docker.ContainerCreateOptions): Promise<ContainerRef> {
    const { name, ...body } = opts;
    const created = await this.json<{ Id: string }>('POST', '/containers/create', {
      query: { name },
      body,
    });
    return new ContainerRef(this, created.Id);
  }

  getContainer(id: string): ContainerRef {
    return new ContainerRef(this, id);
  }

  getImage(name: string): { inspect(): Promise<Docker.ImageInspectInfo> } {
    return { inspect: () => this.json('GET', `/images/${encodeURIComponent(name)}/json`) };
  }

  /** Starts a pull; resolves with the engine's progress stream (JSON lines). */
  pull(image: string, opts: { abortSignal?: AbortSignal } = {}): Promise<NodeJS.ReadableStream> {
    const { repository, tag } = splitRepositoryTag(image);
    return this.stream('POST', '/images/create', {
      query: { fromImage: repository, tag: tag ?? 'latest' },
      signal: opts.abortSignal,
    });
  }

  /** The engine's event stream (JSON lines) from `since` (seconds), narrowed by filters. */
  getEvents(opts: {
    since?: number;
    filters?: Record<string, string[]>;
  }): Promise<NodeJS.ReadableStream> {
    return this.stream('GET', '/events', { query: { since: opts.since, filters: opts.filters } });
  }

  /** A request whose JSON answer (or nothing, for 204) is the result. */
  async json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.send(method, path, opts);
    const text = await readBody(res);
    if (!text) return null as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      return text as T;
    }
  }

  private async stream(
    method: string,
    path: string,
    opts: RequestOptions,
  ): Promise<NodeJS.ReadableStream> {
    return this.send(method, path, opts);
  }

  /** Sends the request; resolves with a 2xx response, rejects with EngineError otherwise. */
  private send(method: string, path: string, opts: RequestOptions): Promise<http.IncomingMessage> {
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const headers: http.OutgoingHttpHeaders = payload
      ? { 'Content-Type': 'application/json', 'Content-Length': payload.length }
      : {};
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          method,
          path: path + queryString(opts.query),
          headers,
          signal: opts.signal,
        },
        (res) => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve(res);
          readBody(res).then(
            (text) =>
              reject(new EngineError(status, parseMessage(text), res.statusMessage ?? 'error')),
            reject,
          );
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }
}

/** A container by id or name; dockerode's Container, for the calls the runtime makes. */
export class ContainerRef {
  constructor(
    private readonly api: DockerApi,
    readonly id: string,
  ) {}

  inspect(): Promise<Docker.ContainerInspectInfo> {
    return this.api.json('GET', `/containers/${encodeURIComponent(this.id)}/json`);
  }

  async start(): Promise<void> {
    await this.api.json('POST', `/containers/${encodeURIComponent(this.id)}/start`);
  }

  /** Resolves once stopped; a container that was not running is a 304 EngineError, as in dockerode. */
  async stop(opts: { t?: number } = {}): Promise<void> {
    await this.api.json('POST', `/containers/${encodeURIComponent(this.id)}/stop`, {
      query: { t: opts.t },
    });
  }

  async remove(opts: { force?: boolean } = {}): Promise<void> {
    await this.api.json('DELETE', `/containers/${encodeURIComponent(this.id)}`, {
      query: { force: opts.force },
    });
  }
}

/** `registry:5000/app:1.2` -> repository and tag; a digest (`@sha256:...`) counts as the tag. */
export function splitRepositoryTag(image: string): { repository: string; tag?: string } {
  const at = image.indexOf('@');
  const cut = at >= 0 ? at : image.lastIndexOf(':');
  if (cut < 0) return { repository: image };
  const tag = image.slice(cut + 1);
  // After the last colon comes either a tag or, with a slash in it, a registry port and a path.
  return tag.includes('/') ? { repository: image } : { repository: image.slice(0, cut), tag };
}

function queryString(query: Query | undefined): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v === undefined) continue;
    params.set(k, typeof v === 'object' ? JSON.stringify(v) : String(v));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

function readBody(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

function parseMessage(text: string): { message?: string } | null {
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v === 'object' && v !== null && 'message' in v && typeof v.message === 'string')
      return { message: v.message };
  } catch {
    // not JSON: the text itself is the message
  }
  return text ? { message: text.trim() } : null;
}
