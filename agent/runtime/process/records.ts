// The process runtime's records on disk (one JSON file per task, written atomically, one write at a time) and the workloads they describe.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { readJsonFile, writeFileAtomic } from '../../../shared/atomic-file.js';
import type { Logger } from '../../../shared/log.js';
import type { ObservedWorkload } from '../types.js';

const recordSchema = z.object({
  v: z.literal(1),
  runtimeId: z.string(),
  taskId: z.string(),
  serviceName: z.string(),
  slot: z.number().int(),
  nodeId: z.string(),
  image: z.string(),
  command: z.array(z.string()),
  pid: z.number().int().positive(),
  /** Kernel start time of the pid (Linux), so a recycled pid is not taken for ours. */
  procStart: z.string().nullable(),
  startedAt: z.number(),
  finishedAt: z.number().nullable(),
  exited: z.boolean(),
  exitCode: z.number().int().nullable(),
  hostPorts: z.array(
    z.object({
      target: z.number().int(),
      protocol: z.enum(['tcp', 'udp']),
      hostIp: z.string(),
      hostPort: z.number().int(),
    }),
  ),
});
export type ProcessRecord = z.infer<typeof recordSchema>;

export class RecordStore {
  /** Per-task chain of record writes, so an exit recorded early is not overwritten by the start. */
  private readonly writes = new Map<string, Promise<void>>();

  constructor(
    readonly dir: string,
    private readonly log: Logger,
  ) {}

  /** Serialises read-modify-write of one task's record; fn returns null to leave it unwritten. */
  update(taskId: string, fn: (cur: ProcessRecord | null) => ProcessRecord | null): Promise<void> {
    const prev = this.writes.get(taskId) ?? Promise.resolve();
    const next = prev
      .catch(() => undefined)
      .then(async () => {
        const rec = fn(await this.read(taskId));
        if (rec) await writeFileAtomic(this.file(taskId), JSON.stringify(rec));
      });
    this.writes.set(taskId, next);
    void next
      .finally(() => {
        if (this.writes.get(taskId) === next) this.writes.delete(taskId);
      })
      .catch(() => undefined);
    return next;
  }

  /** Resolves once the task's writes queued so far are done (undefined when none is). */
  pending(taskId: string): Promise<void> | undefined {
    return this.writes.get(taskId);
  }

  /** Resolves once every write queued so far is done, failed or not. */
  async settled(): Promise<void> {
    await Promise.all([...this.writes.values()].map((w) => w.catch(() => undefined)));
  }

  async read(taskId: string): Promise<ProcessRecord | null> {
    const parsed = recordSchema.safeParse(await readJsonFile(this.file(taskId)));
    return parsed.success ? parsed.data : null;
  }

  async readAll(): Promise<ProcessRecord[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: ProcessRecord[] = [];
    for (const name of names) {
      if (!name.endsWith('.json') || name.startsWith('.')) continue;
      const parsed = recordSchema.safeParse(await readJsonFile(path.join(this.dir, name)));
      if (parsed.success) out.push(parsed.data);
      else this.log.warn('ignoring unreadable process record', { file: name });
    }
    return out;
  }

  async delete(taskId: string): Promise<void> {
    await fs.rm(this.file(taskId), { force: true });
  }

  private file(taskId: string): string {
    return path.join(this.dir, `${safeName(taskId)}.json`);
  }
}

/** Task ids become file names: anything outside a safe set could escape the directory. */
export function safeName(taskId: string): string {
  return taskId.replace(/[^a-zA-Z0-9_.-]/g, '_').replace(/^\.+/, '_');
}

/** The workload a record describes; whether it runs comes from the live process, not the file. */
export function toWorkload(rec: ProcessRecord, running: boolean): ObservedWorkload {
  return {
    runtimeId: rec.runtimeId,
    taskId: rec.taskId,
    serviceName: rec.serviceName,
    slot: rec.slot,
    nodeId: rec.nodeId,
    running,
    exitCode: running ? null : rec.exitCode,
    startedAt: rec.startedAt,
    finishedAt: running ? null : rec.finishedAt,
    hostPorts: rec.hostPorts,
  };
}
