// An in-memory runtime for unit tests and control-plane benchmarks: workloads are records, programs are scripted by image.
import { systemClock, type Clock } from '../../shared/clock.js';
import type { AssignedTask } from '../../shared/protocol.js';
import type { HostPort } from '../../shared/spec.js';
import type {
  ExitListener,
  ObservedWorkload,
  Runtime,
  RuntimeInfo,
  StartOptions,
} from './types.js';

/** What a scripted program is given when its workload starts. */
export interface FakeProgramContext {
  task: AssignedTask;
  hostIp: string;
  /** The host ports the fake picked for the task's ports. */
  hostPorts: readonly HostPort[];
  /** Ends the workload with this exit code, as if its process exited; a no-op once ended. */
  exit(exitCode: number): void;
}

/** A running scripted program: the ports it actually serves on, and how it ends when stopped. */
export interface FakeProcess {
  hostPorts?: HostPort[];
  stop?(): void | Promise<void>;
}

/** Stands in for an image's program; without one a workload runs until stopped or killed. */
export type FakeProgram = (ctx: FakeProgramContext) => FakeProcess | Promise<FakeProcess>;

export interface FakeRuntimeOptions {
  platform?: { os: string; arch: string };
  /** Time for the workloads' start and finish stamps. */
  clock?: Clock;
  /** Programs by image name. */
  programs?: Readonly<Record<string, FakeProgram>>;
}

/** Ephemeral host ports handed out for ingress ports, as the kernel would. */
const FIRST_EPHEMERAL_PORT = 32768;

export class FakeRuntime implements Runtime {
  readonly name = 'fake' as const;
  readonly workloads = new Map<string, ObservedWorkload>();
  private readonly listeners = new Set<{ nodeId: string; fn: ExitListener }>();
  private readonly processes = new Map<string, FakeProcess>();
  private readonly platform: { os: string; arch: string };
  private readonly clock: Clock;
  private seq = 0;
  private nextPort = FIRST_EPHEMERAL_PORT;
  /** Until this clock time the engine is down (see crashAll) and refuses starts. */
  private downUntil = 0;
  starts = 0;

  constructor(private readonly opts: FakeRuntimeOptions = {}) {
    this.platform = opts.platform ?? { os: 'linux', arch: 'arm64' };
    this.clock = opts.clock ?? systemClock;
  }

  async info(): Promise<RuntimeInfo> {
    return { ...this.platform, cpus: 4, memoryBytes: 4 * 1024 ** 3, version: 'fake' };
  }

  async list(nodeId: string): Promise<ObservedWorkload[]> {
    return [...this.workloads.values()].filter((w) => w.nodeId === nodeId).map((w) => ({ ...w }));
  }

  async prepare(_task: AssignedTask): Promise<void> {}

  /** Like a container name or a process record, a task has one workload: a stale one goes. */
  async start(task: AssignedTask, opts: StartOptions): Promise<ObservedWorkload> {
    if (this.clock.now() < this.downUntil)
      throw new Error('the container engine is restarting: try again shortly');
    this.starts++;
    for (const stale of [...this.workloads.values()].filter((w) => w.taskId === task.id)) {
      await this.remove(stale.runtimeId);
    }
    const w: ObservedWorkload = {
      runtimeId: `fake-${++this.seq}`,
      taskId: task.id,
      serviceName: task.serviceName,
      slot: task.slot,
      nodeId: opts.nodeId,
      running: true,
      exitCode: null,
      startedAt: this.clock.now(),
      finishedAt: null,
      hostPorts: this.pickPorts(task, opts.hostIp),
    };
    this.workloads.set(w.runtimeId, w);
    const program = this.opts.programs?.[task.template.image];
    if (program) {
      const proc = await program({
        task,
        hostIp: opts.hostIp,
        hostPorts: w.hostPorts,
        exit: (code) => this.exited(w.runtimeId, code),
      });
      this.processes.set(w.runtimeId, proc);
      if (proc.hostPorts) w.hostPorts = proc.hostPorts;
    }
    return { ...w };
  }

  /** Makes a workload exit as if its process ended with the code. */
  kill(runtimeId: string, exitCode = 137): void {
    const proc = this.processes.get(runtimeId);
    if (proc?.stop) void Promise.resolve(proc.stop()).catch(() => undefined);
    this.exited(runtimeId, exitCode);
  }

  /**
   * The engine stops as a restarting engine does: every running workload exits (137, killed)
   * and starts are refused for `downMs`; the exited workloads stay listed, as containers do.
   */
  crashAll(downMs: number): void {
    this.downUntil = Math.max(this.downUntil, this.clock.now() + downMs);
    for (const w of [...this.workloads.values()]) if (w.running) this.kill(w.runtimeId, 137);
  }

  /** A stop ends the workload cleanly and, as with a real runtime, is reported as an exit. */
  async stop(runtimeId: string): Promise<void> {
    const w = this.workloads.get(runtimeId);
    if (!w || !w.running) return;
    await this.processes.get(runtimeId)?.stop?.();
    this.exited(runtimeId, 0);
  }

  async openConnections(): Promise<number | null> {
    return null;
  }

  /** Like a forced removal: a running workload is killed first. */
  async remove(runtimeId: string): Promise<void> {
    if (this.workloads.get(runtimeId)?.running) this.kill(runtimeId);
    this.processes.delete(runtimeId);
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

  private exited(runtimeId: string, exitCode: number): void {
    const w = this.workloads.get(runtimeId);
    if (!w || !w.running) return;
    w.running = false;
    w.exitCode = exitCode;
    w.finishedAt = this.clock.now();
    this.processes.delete(runtimeId);
    for (const l of [...this.listeners]) {
      if (l.nodeId !== w.nodeId) continue;
      try {
        l.fn(w.runtimeId, w.taskId, exitCode);
      } catch {
        // A listener's failure is its own: the other listeners still hear of the exit.
      }
    }
  }

  /** Host-mode ports get their published port; ingress ports the next ephemeral one. */
  private pickPorts(task: AssignedTask, hostIp: string): HostPort[] {
    return task.template.ports.map((p) => ({
      target: p.target,
      protocol: p.protocol,
      hostIp,
      hostPort: p.mode === 'host' && p.published !== undefined ? p.published : this.nextPort++,
    }));
  }
}
