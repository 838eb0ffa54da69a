// An in-memory runtime for unit tests and control-plane benchmarks: workloads are records only.
import type { AssignedTask } from '../../shared/protocol.js';
import type {
  ExitListener,
  ObservedWorkload,
  Runtime,
  RuntimeInfo,
  StartOptions,
} from './types.js';

export class FakeRuntime implements Runtime {
  readonly name = 'fake' as const;
  readonly workloads = new Map<string, ObservedWorkload>();
  private readonly listeners = new Set<{ nodeId: string; fn: ExitListener }>();
  private seq = 0;
  starts = 0;

  constructor(
    private readonly platform: { os: string; arch: string } = { os: 'linux', arch: 'arm64' },
  ) {}

  async info(): Promise<RuntimeInfo> {
    return { ...this.platform, cpus: 4, memoryBytes: 4 * 1024 ** 3, version: 'fake' };
  }

  async list(nodeId: string): Promise<ObservedWorkload[]> {
    return [...this.workloads.values()].filter((w) => w.nodeId === nodeId).map((w) => ({ ...w }));
  }

  async prepare(_task: AssignedTask): Promise<void> {}

  async start(task: AssignedTask, opts: StartOptions): Promise<ObservedWorkload> {
    this.starts++;
    const w: ObservedWorkload = {
      runtimeId: `fake-${++this.seq}`,
      taskId: task.id,
      serviceName: task.serviceName,
      slot: task.slot,
      nodeId: opts.nodeId,
      running: true,
      exitCode: null,
      startedAt: Date.now(),
      finishedAt: null,
      hostPorts: [],
    };
    this.workloads.set(w.runtimeId, w);
    return { ...w };
  }

  /** Makes a workload exit as if its process ended with the code. */
  kill(runtimeId: string, exitCode = 137): void {
    const w = this.workloads.get(runtimeId);
    if (!w || !w.running) return;
    w.running = false;
    w.exitCode = exitCode;
    w.finishedAt = Date.now();
    for (const l of this.listeners)
      if (l.nodeId === w.nodeId) l.fn(w.runtimeId, w.taskId, exitCode);
  }

  async stop(runtimeId: string): Promise<void> {
    const w = this.workloads.get(runtimeId);
    if (w && w.running) {
      w.running = false;
      w.exitCode = 0;
      w.finishedAt = Date.now();
    }
  }

  async openConnections(): Promise<number | null> {
    return null;
  }

  async remove(runtimeId: string): Promise<void> {
    this.workloads.delete(runtimeId);
  }

  watchExits(nodeId: string, fn: ExitListener): () => void {
    const entry = { nodeId, fn };
    this.listeners.add(entry);
    return () => this.listeners.delete(entry);
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }
}
