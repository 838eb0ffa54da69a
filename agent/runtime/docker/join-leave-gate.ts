// One at a time, a little apart: containers joining and leaving cluster networks, around a deadlock in Docker 20.10's libnetwork.
import type Docker from 'dockerode';
import type { Clock } from '../../../shared/clock.js';

/**
 * Docker 20.10's libnetwork takes a network's lock and then the controller's when a container
 * joins or leaves a user-defined network, and the reverse order when it processes a deleted
 * endpoint in the background: a container joining or leaving while another one's endpoint is
 * deleted (it stopped, exited or was removed) can lock the engine for good (moby/moby#42545;
 * fixed in 22.06, and in the 20.10 branch after the 20.10.24 that Debian ships; the same race
 * with endpoint creation was fixed before 20.10.24). The agent owns its bridges alone (one per
 * network per node), so it keeps its own leaves apart from everything else: joins run side by
 * side, a leave runs alone and is followed by a short pause for the background processing.
 */
export class JoinLeaveGate {
  private joins = 0;
  /** The leave running or pausing, and those queued behind it. */
  private leaves: Promise<unknown> = Promise.resolve();
  private leaving = 0;
  private readonly idle: (() => void)[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly pauseMs = 100,
  ) {}

  /** A container starting on (or connecting to) a cluster network: alongside other joins. */
  async join<T>(fn: () => Promise<T>): Promise<T> {
    while (this.leaving > 0) await this.leaves.catch(() => undefined);
    this.joins++;
    try {
      return await fn();
    } finally {
      this.joins--;
      if (this.joins === 0) for (const wake of this.idle.splice(0)) wake();
    }
  }

  /** A container leaving its cluster networks (stop, remove): alone; the next waits out a pause. */
  leave<T>(fn: () => Promise<T>): Promise<T> {
    this.leaving++;
    const run = async (): Promise<T> => {
      while (this.joins > 0) await new Promise<void>((r) => this.idle.push(r));
      return fn();
    };
    const result = this.leaves.then(run, run);
    const pause = (): Promise<void> => this.clock.sleep(this.pauseMs);
    this.leaves = result.then(pause, pause).then(() => void this.leaving--);
    return result;
  }
}

const DOCKER_NETWORKS = new Set(['bridge', 'host', 'none', 'default']);

/** Whether the container is on a user-defined network (a cluster network's bridge); false if gone. */
export async function onUserNetwork(docker: Docker, id: string): Promise<boolean> {
  try {
    const info = await docker.getContainer(id).inspect();
    const mode = info.HostConfig.NetworkMode ?? '';
    const names = Object.keys(info.NetworkSettings.Networks ?? {});
    return [mode, ...names].some((n) => n !== '' && !DOCKER_NETWORKS.has(n));
  } catch {
    return false;
  }
}
