// Watches one node's containers for exits and health changes on the engine's event stream, reconnecting until closed.
import type Docker from 'dockerode';
import type { Clock, TimerHandle } from '../../../shared/clock.js';
import { errorMessage } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/log.js';
import { LABELS, type ExitListener } from '../types.js';
import { isRecord, num, str } from './fields.js';
import { JsonLines, destroyStream } from './streams.js';

const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 5_000;
/** Event keys remembered to drop the duplicates a replay after a reconnect brings. */
const MAX_SEEN = 1024;

/** Reports each exit (with its code) and each health change (code null) of one node's containers. */
export class ExitAndHealthWatcher {
  private closed = false;
  private stream: NodeJS.ReadableStream | null = null;
  private timer: TimerHandle | null = null;
  private backoffMs = RECONNECT_MIN_MS;
  /** Replay point: events since here are asked for again after a reconnect, so none are lost. */
  private sinceSec: number;
  private readonly seen = new Set<string>();

  constructor(
    private readonly docker: Docker,
    private readonly nodeId: string,
    private readonly onExit: ExitListener,
    private readonly log: Logger,
    private readonly clock: Clock,
  ) {
    this.sinceSec = Math.floor(clock.now() / 1000);
  }

  start(): void {
    void this.connect();
  }

  close(): void {
    this.closed = true;
    if (this.timer) this.clock.clearTimeout(this.timer);
    if (this.stream) destroyStream(this.stream);
    this.stream = null;
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.docker.getEvents({
        since: this.sinceSec,
        filters: {
          type: ['container'],
          event: ['die', 'health_status'],
          label: [`${LABELS.node}=${this.nodeId}`],
        },
      });
    } catch (e) {
      this.log.warn('docker event stream unavailable', { error: errorMessage(e) });
      this.reconnectLater();
      return;
    }
    if (this.closed) return destroyStream(stream);
    this.stream = stream;
    this.backoffMs = RECONNECT_MIN_MS;
    this.consume(stream);
  }

  private consume(stream: NodeJS.ReadableStream): void {
    const lines = new JsonLines();
    stream.on('data', (chunk: Buffer | string) => lines.push(chunk).forEach((e) => this.handle(e)));
    const ended = (err?: unknown): void => {
      if (this.stream !== stream) return;
      this.stream = null;
      lines.end().forEach((e) => this.handle(e));
      // One second of overlap: the engine's "since" has second resolution; duplicates are dropped.
      this.sinceSec = Math.floor(this.clock.now() / 1000) - 1;
      if (this.closed) return;
      this.log.warn('docker event stream ended; reconnecting', {
        error: errorMessage(err ?? 'end'),
      });
      this.reconnectLater();
    };
    stream.on('error', ended);
    stream.on('end', () => ended());
    stream.on('close', () => ended());
  }

  private reconnectLater(): void {
    if (this.closed) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, RECONNECT_MAX_MS);
    this.timer = this.clock.setTimeout(() => void this.connect(), delay);
  }

  private handle(event: unknown): void {
    const change = parseChange(event);
    if (!change || this.closed || this.seen.has(change.key)) return;
    this.seen.add(change.key);
    if (this.seen.size > MAX_SEEN) this.seen.delete(this.seen.values().next().value ?? '');
    if (change.nodeId !== this.nodeId) return;
    try {
      this.onExit(change.id, change.taskId, change.exitCode);
    } catch (e) {
      this.log.error('exit listener threw', { error: errorMessage(e), taskId: change.taskId });
    }
  }
}

/** A container's exit (with its code) or health change (exitCode null), from one engine event. */
interface ContainerChange {
  key: string;
  id: string;
  nodeId: string;
  taskId: string;
  exitCode: number | null;
}

function parseChange(event: unknown): ContainerChange | null {
  if (!isRecord(event) || !isRecord(event.Actor)) return null;
  const action = str(event.Action ?? event.status);
  // "health_status: healthy" and the like: reported as a change without an exit code.
  const health = action.startsWith('health_status');
  if (action !== 'die' && !health) return null;
  const attrs = isRecord(event.Actor.Attributes) ? event.Actor.Attributes : {};
  const id = str(event.Actor.ID) || str(event.id);
  const taskId = str(attrs[LABELS.task]);
  if (!id || !taskId) return null;
  const codeText = health ? '' : str(attrs.exitCode);
  const code = codeText === '' ? NaN : Number(codeText);
  const when = str(event.timeNano) || String(num(event.timeNano) || num(event.time));
  return {
    key: `${id}:${when}:${action}`,
    id,
    nodeId: str(attrs[LABELS.node]),
    taskId,
    exitCode: Number.isInteger(code) ? code : null,
  };
}
