// `fleet node inspect --pretty`: a node in the few labelled lines `docker node inspect --pretty` prints.
import type { NodeView } from '../../../shared/api.js';
import { capitalize, formatBytes, relativeTime } from '../format.js';

export function renderNodePretty(n: NodeView): string {
  const pad = (label: string): string => `${label}:`.padEnd(24);
  const sub = (label: string): string => ` ${label}:`.padEnd(24);
  const lines = [
    `${pad('ID')}${n.id}`,
    `${pad('Hostname')}${n.name}`,
    `${pad('Joined at')}${n.createdAt}`,
    'Status:',
    `${sub('State')}${capitalize(n.status)}${n.statusMessage ? ` (${n.statusMessage})` : ''}`,
    `${sub('Availability')}${capitalize(n.availability)}`,
    `${sub('Address')}${n.address || '-'}`,
  ];
  if (n.manager) {
    lines.push(
      'Manager Status:',
      `${sub('Address')}${n.manager.address}`,
      `${sub('Raft Status')}${n.manager.reachable ? 'Reachable' : 'Unreachable'} (${n.manager.raft})`,
      `${sub('Leader')}${n.manager.leader ? 'Yes' : 'No'}`,
    );
  }
  lines.push(
    'Platform:',
    `${sub('Operating System')}${n.os}`,
    `${sub('Architecture')}${n.arch}`,
    'Resources:',
    `${sub('CPUs')}${n.resources.cpus}`,
    `${sub('Memory')}${formatBytes(n.resources.memoryBytes)}`,
    `${pad('Runtime')}${n.runtime}`,
    `${pad('Engine Version')}${n.engineVersion || '-'}`,
    `${pad('Agent Version')}${n.agentVersion || '-'}`,
    `${pad('Agent Protocol')}${n.protocolVersion ?? '-'}`,
    `${pad('Node.js')}${n.nodeVersion ?? '-'}`,
    `${pad('Tasks')}${n.tasks}`,
    `${pad('Link Profile')}${n.profile ?? '-'}`,
    `${pad('Down Detection')}${n.detection ?? '-'}`,
  );
  const u = n.upgrade;
  if (u) {
    const agent = u.agent
      ? `${u.agent.state}${u.agent.version ? ` ${u.agent.version}` : ''}${u.agent.reason ? ` (${u.agent.reason})` : ''}`
      : '-';
    lines.push(
      'Agent Upgrade:',
      `${sub('Target')}${u.target ?? '-'}${u.release ? ` (rollout to ${u.release})` : ''}`,
      `${sub('State')}${u.state || '-'}${u.reason ? ` (${u.reason})` : ''}`,
      `${sub('Agent Reports')}${agent}`,
    );
  }
  if (n.usage) lines.push(...usageLines(n.usage, sub));
  const labels = Object.entries(n.labels).sort(([a], [b]) => a.localeCompare(b));
  if (labels.length > 0) lines.push('Labels:', ...labels.map(([k, v]) => ` - ${k}=${v}`));
  return lines.join('\n') + '\n';
}

/** The board's latest figures, as its agent last summarised them, and how old they are. */
function usageLines(u: NonNullable<NodeView['usage']>, sub: (label: string) => string): string[] {
  const of = (used: number, total: number): string =>
    `${formatBytes(used)} of ${formatBytes(total)}${total > 0 ? ` (${Math.round((100 * used) / total)}%)` : ''}`;
  const lines = [
    `Usage (reported ${relativeTime(u.reportedAt)}):`,
    `${sub('CPU')}${(u.cpu * 100).toFixed(1)}%`,
    `${sub('Memory')}${of(u.memUsed, u.memTotal)}`,
    `${sub('Disk')}${of(u.diskUsed, u.diskTotal)}`,
  ];
  if (u.tempC !== undefined) lines.push(`${sub('Temperature')}${u.tempC.toFixed(1)} °C`);
  if (u.underVoltage !== undefined)
    lines.push(`${sub('Under-voltage')}${u.underVoltage ? 'Yes' : 'No'}`);
  if (u.throttled !== undefined) lines.push(`${sub('Throttled')}${u.throttled ? 'Yes' : 'No'}`);
  return lines;
}
