// Who a fault may hit, and the order that carries it out: boards for agent faults, managers (or the leader) for manager faults.
import type { Fault } from '../../../shared/chaos.js';
import type { NodeSample, Observation } from './model.js';
import { pickTarget, type PlannedFault } from './schedule.js';

/** Faults a simulated board cannot take: they need a real engine or a disk of its own. */
const REAL_ONLY = new Set(['restart-engine', 'fill-disk']);

export interface Resolved {
  node: NodeSample;
  fault: Fault;
}

/** The target of a planned fault among the nodes now, or why there is none. */
export function resolveTarget(p: PlannedFault, o: Observation): Resolved | { error: string } {
  const ready = o.nodes.filter((n) => n.status === 'ready');
  if (p.kind === 'kill-leader') {
    const leader = o.nodes.find((n) => n.id === o.leader);
    return leader ? { node: leader, fault: 'kill-manager' } : { error: 'no leader known' };
  }
  if (p.kind === 'kill-manager' || p.kind === 'restart-manager' || p.kind === 'partition-manager') {
    const node = pickTarget(
      p.pick,
      o.nodes.filter((n) => n.role === 'manager'),
    );
    return node ? { node, fault: p.kind } : { error: 'no manager' };
  }
  const boards = ready.filter((n) => n.role === 'worker' && (!REAL_ONLY.has(p.kind) || !n.sim));
  const node = pickTarget(p.pick, boards);
  if (!node) return { error: `no ready ${REAL_ONLY.has(p.kind) ? 'real ' : ''}board` };
  return { node, fault: p.kind };
}

/**
 * The processes whose memory and files are sampled: every manager, every real board's agent,
 * and one simulated board (they all share the simulator's process).
 */
export function statTargets(o: Observation): { node: NodeSample; process: string }[] {
  const out: { node: NodeSample; process: string }[] = [];
  let sim = false;
  for (const n of [...o.nodes].sort((a, b) => a.id.localeCompare(b.id))) {
    if (n.status !== 'ready' && n.role !== 'manager') continue;
    if (n.role === 'manager') out.push({ node: n, process: `manager ${n.name}` });
    else if (!n.sim) out.push({ node: n, process: `agent ${n.name}` });
    else if (!sim) {
      sim = true;
      out.push({ node: n, process: 'simulator' });
    }
  }
  return out;
}
