// `fleet node inspect --pretty`: a node in the few labelled lines `docker node inspect --pretty` prints.
import type { NodeView } from '../../../shared/api.js';
import { capitalize, formatBytes } from '../format.js';

export function renderNodePretty(n: NodeView): string {
  const pad = (label: string): string => `${label}:`.padEnd(24);
  const lines = [
    `${pad('ID')}${n.id}`,
    `${pad('Hostname')}${n.name}`,
    `${pad('Joined at')}${n.createdAt}`,
    'Status:',
    ` ${pad('State').slice(1)}${capitalize(n.status)}${n.statusMessage ? ` (${n.statusMessage})` : ''}`,
    ` ${pad('Availability').slice(1)}${capitalize(n.availability)}`,
    ` ${pad('Address').slice(1)}${n.address || '-'}`,
  ];
  if (n.manager) {
    lines.push(
      'Manager Status:',
      ` ${pad('Address').slice(1)}${n.manager.address}`,
      ` ${pad('Raft Status').slice(1)}${n.manager.reachable ? 'Reachable' : 'Unreachable'} (${n.manager.raft})`,
      ` ${pad('Leader').slice(1)}${n.manager.leader ? 'Yes' : 'No'}`,
    );
  }
  lines.push(
    'Platform:',
    ` ${pad('Operating System').slice(1)}${n.os}`,
    ` ${pad('Architecture').slice(1)}${n.arch}`,
    'Resources:',
    ` ${pad('CPUs').slice(1)}${n.resources.cpus}`,
    ` ${pad('Memory').slice(1)}${formatBytes(n.resources.memoryBytes)}`,
    `${pad('Runtime')}${n.runtime}`,
    `${pad('Engine Version')}${n.engineVersion || '-'}`,
    `${pad('Agent Version')}${n.agentVersion || '-'}`,
    `${pad('Tasks')}${n.tasks}`,
  );
  const labels = Object.entries(n.labels).sort(([a], [b]) => a.localeCompare(b));
  if (labels.length > 0) lines.push('Labels:', ...labels.map(([k, v]) => ` - ${k}=${v}`));
  return lines.join('\n') + '\n';
}
