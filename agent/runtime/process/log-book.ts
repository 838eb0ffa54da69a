// The process runtime's task logs: rotated by size (copy, then truncate) and stamped with when their bytes were seen.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Clock, TimerHandle } from '../../../shared/clock.js';
import { errorMessage } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/log.js';
import { safeName } from './records.js';

export interface LogRotation {
  /** A log is rotated once it grows past this many bytes. */
  maxBytes: number;
  /** Files kept per task, the one written included (so 3: .log, .log.1, .log.2). */
  files: number;
}

export const DEFAULT_ROTATION: LogRotation = { maxBytes: 10 * 1024 * 1024, files: 3 };
/** How often logs are looked at: the resolution of the times given to lines read afterwards. */
const CHECK_MS = 1_000;
/** Stamps kept per file; past that the oldest go (their lines take the next stamp's time). */
const MAX_STAMPS = 4_096;

interface Stamp {
  /** The file held this many bytes… */
  size: number;
  /** …when it was looked at. */
  t: number;
}

/**
 * A task writes its log itself (the file is its stdout, and it outlives the agent), so lines
 * carry no time. The book looks at each log every second and notes its size: a line's time is
 * when its last byte was first seen. Rotation copies the file to .1 (older ones shift) and
 * truncates it: the task keeps its descriptor, opened for append, and writes on at the start.
 */
export class LogBook {
  /** Stamps by file name: gen 0 is the file written, 1 its first rotated copy, and so on. */
  private readonly stamps = new Map<string, Stamp[]>();
  private timer: TimerHandle | null = null;
  private checking = false;

  constructor(
    readonly dir: string,
    private readonly clock: Clock,
    private readonly logger: Logger,
    readonly rotation: LogRotation = DEFAULT_ROTATION,
  ) {}

  fileOf(taskId: string, gen = 0): string {
    const base = path.join(this.dir, `${safeName(taskId)}.log`);
    return gen === 0 ? base : `${base}.${gen}`;
  }

  start(): void {
    this.timer ??= this.clock.setInterval(() => void this.check(), CHECK_MS);
  }

  stop(): void {
    if (this.timer) this.clock.clearInterval(this.timer);
    this.timer = null;
  }

  /** Looks at every log once: notes sizes, rotates those grown too large. */
  async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      const names = await fs.readdir(this.dir).catch(() => [] as string[]);
      for (const name of names.filter((n) => n.endsWith('.log'))) await this.checkFile(name);
    } catch (e) {
      this.logger.warn('cannot check task logs', { error: errorMessage(e) });
    } finally {
      this.checking = false;
    }
  }

  /** Times for many offsets of one generation, in one pass (offsets ascending). */
  async timesOf(taskId: string, gen: number, ends: readonly number[]): Promise<number[]> {
    const file = this.fileOf(taskId, gen);
    const stamps = this.stamps.get(path.basename(file)) ?? [];
    const st = await fs.stat(file).catch(() => null);
    const fallback = Math.min(st?.mtimeMs ?? this.clock.now(), this.clock.now());
    let i = 0;
    return ends.map((end) => {
      while (i < stamps.length && (stamps[i]?.size ?? 0) < end) i++;
      return stamps[i]?.t ?? fallback;
    });
  }

  /** Removes a task's log and its rotated copies. */
  async remove(taskId: string): Promise<void> {
    for (let gen = 0; gen < this.rotation.files; gen++) {
      const file = this.fileOf(taskId, gen);
      this.stamps.delete(path.basename(file));
      await fs.rm(file, { force: true });
    }
  }

  private async checkFile(name: string): Promise<void> {
    const file = path.join(this.dir, name);
    const st = await fs.stat(file).catch(() => null);
    if (!st) return;
    let stamps = this.stamps.get(name);
    if (!stamps) {
      // First sight (say, after an agent restart): what is there was written by its mtime.
      stamps = [{ size: st.size, t: Math.min(st.mtimeMs, this.clock.now()) }];
      this.stamps.set(name, stamps);
    }
    const last = stamps.at(-1);
    if (st.size < (last?.size ?? 0)) stamps.length = 0; // truncated by someone else
    if (st.size > (stamps.at(-1)?.size ?? -1)) stamps.push({ size: st.size, t: this.clock.now() });
    if (stamps.length > MAX_STAMPS) stamps.splice(0, stamps.length - MAX_STAMPS);
    if (st.size > this.rotation.maxBytes) await this.rotate(name);
  }

  private async rotate(name: string): Promise<void> {
    const file = path.join(this.dir, name);
    const keep = this.rotation.files;
    if (keep <= 1) {
      await fs.truncate(file, 0);
      this.stamps.set(name, []);
      return;
    }
    for (let gen = keep - 1; gen >= 1; gen--) {
      const from = gen === 1 ? file : `${file}.${gen - 1}`;
      const to = `${file}.${gen}`;
      if (gen === 1) await fs.copyFile(from, to);
      else await fs.rename(from, to).catch(() => undefined);
      const moved = this.stamps.get(path.basename(from));
      if (moved) this.stamps.set(path.basename(to), moved);
      else this.stamps.delete(path.basename(to));
    }
    // Bytes the task writes between the copy and the truncation are lost: a short window.
    await fs.truncate(file, 0);
    this.stamps.set(name, [{ size: 0, t: this.clock.now() }]);
  }
}
