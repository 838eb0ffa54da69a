// Docker Swarm on the local engine for the benchmarks that compare fleet with it: join or create
// a single-node swarm, read a service's replicas, remove a service and leave what was created.
import { containersWithLabel, poll, removeContainersWithLabel, run } from './lib.js';

/** The label Swarm puts on every container of a service. */
export const swarmServiceLabel = (name: string): string => `com.docker.swarm.service.name=${name}`;

/** The engine's swarm state: inactive, active, pending, locked or error. */
export async function swarmState(): Promise<string> {
  return (await run('docker', ['info', '--format', '{{.Swarm.LocalNodeState}}'])).stdout.trim();
}

export type SwarmSetUp = { ok: true; created: boolean } | { ok: false; why: string };

/**
 * Makes the engine a swarm manager: `docker swarm init --advertise-addr 127.0.0.1` when it is in
 * no swarm. An engine already in a swarm is used as it is, or refused when reuse is false (a
 * benchmark that wants a swarm of its own must not touch somebody else's).
 */
export async function setUpSwarm(opts: { reuse: boolean }): Promise<SwarmSetUp> {
  const state = await swarmState();
  if (state === 'active' && opts.reuse) return { ok: true, created: false };
  if (state !== 'inactive')
    return {
      ok: false,
      why:
        `the engine is already in a swarm (state ${state || 'unknown'}); this benchmark creates ` +
        'and leaves a swarm of its own and will not use or leave that one',
    };
  const init = await run('docker', ['swarm', 'init', '--advertise-addr', '127.0.0.1'], 60_000);
  if (init.code !== 0)
    return { ok: false, why: `swarm init failed: ${init.stderr.trim().split('\n')[0] ?? ''}` };
  return { ok: true, created: true };
}

/** Leaves the swarm this process created (never one it found). */
export async function leaveSwarm(timeoutMs = 60_000): Promise<void> {
  await run('docker', ['swarm', 'leave', '--force'], timeoutMs);
}

/** The service's replicas as `docker service ls` shows them ("50/50"), or null. */
export async function swarmReplicas(name: string): Promise<string | null> {
  const r = await run('docker', [
    'service',
    'ls',
    '--filter',
    `name=${name}`,
    '--format',
    '{{.Name}} {{.Replicas}}',
  ]);
  const line = r.stdout.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? line.slice(name.length + 1).trim() : null;
}

/** Removes the service, waits (bounded) for its containers to go and force-removes any left. */
export async function removeSwarmService(name: string, waitMs = 60_000): Promise<void> {
  const label = swarmServiceLabel(name);
  await run('docker', ['service', 'rm', name]);
  await poll(async () => (await containersWithLabel(label)).length === 0, 250, waitMs);
  await removeContainersWithLabel(label);
}
