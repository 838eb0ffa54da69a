// One at a time, a little apart: containers joining and leaving cluster networks, around a deadlock in Docker 20.10's libnetwork.
import type Docker from 'dockerode';
import type { Clock } from '../../../shared/clock.js';

/**
 * Docker 20.10's libnetwork takes a network's lock and then the controller's when a container
 * joins or leaves a user-defined network, and the reverse order when it processes a deleted
 * endpoint in the background; two containers of one network starting, stopping or exiting at
 * the same moment can lock the engine for good (moby/moby#42545; fixed in 22.06, and in the
 * 20.10 branch after the 20.10.24 that Debian ships). The agent owns its bridges alone (one per
 * network per node), so running its own joins and leaves one after another, with a short pause
 * for the background processing, keeps the two from meeting.
 */
export class JoinLeaveGate {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly clock: Clock,
    private readonly pauseMs = 100,
  ) {}

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    const pause = (): Promise<void> => this.clock.sleep(this.pauseMs);
    this.tail = result.then(pause, pause);
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
