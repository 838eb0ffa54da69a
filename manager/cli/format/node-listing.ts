// The columns, template fields and filters of `fleet node ls` and `fleet manager ls`, in Docker's order and names.
import type { ManagerView, NodeManagerStatus, NodeView } from '../../../shared/api.js';
import { capitalize, shortId } from '../format.js';
import { idMatches, labelMatches, type Listing } from './listing.js';

const managerState = (m: NodeManagerStatus): string =>
  m.leader ? 'Leader' : m.reachable ? 'Reachable' : 'Unreachable';

/** Docker's columns first (ID HOSTNAME STATUS AVAILABILITY MANAGER STATUS ENGINE VERSION), then fleet's (VERSION: the agent's). */
export const nodeListing: Listing<NodeView> = {
  columns: [
    { header: 'ID', field: 'ID' },
    { header: 'HOSTNAME', field: 'Hostname' },
    { header: 'STATUS', field: 'Status' },
    { header: 'AVAILABILITY', field: 'Availability' },
    { header: 'MANAGER STATUS', field: 'ManagerStatus' },
    { header: 'ENGINE VERSION', field: 'EngineVersion' },
    { header: 'ROLE', field: 'Role' },
    { header: 'ADDRESS', field: 'Address' },
    { header: 'ARCH', field: 'Arch' },
    { header: 'TASKS', field: 'Tasks' },
    { header: 'VERSION', field: 'AgentVersion' },
    { header: 'DETECTION', field: 'Detection' },
  ],
  extraFields: [
    'Profile',
    'Name',
    'Message',
    'Protocol',
    'Upgrade',
    'Runtime',
    'OS',
    'Labels',
    'CPUs',
    'Memory',
  ],
  rows: (nodes, { noTrunc }) =>
    [...nodes]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((n) => ({
        ID: noTrunc ? n.id : shortId(n.id),
        Hostname: n.name,
        Name: n.name,
        Status: capitalize(n.status),
        // Why it is in that state: a heartbeat timeout, or an agent refused for its protocol.
        Message: n.statusMessage,
        Availability: capitalize(n.availability),
        ManagerStatus: n.manager ? managerState(n.manager) : '',
        EngineVersion: n.engineVersion,
        AgentVersion: n.agentVersion,
        // How soon the manager notices the board is gone: slower on metered links.
        Detection: n.detection ?? '',
        Profile: n.profile ?? '',
        Protocol: n.protocolVersion === null ? '' : String(n.protocolVersion),
        // Its state in the newest agent upgrade that names it, and the version asked for.
        Upgrade: n.upgrade?.state ? `${n.upgrade.state} ${n.upgrade.target ?? ''}`.trim() : '',
        Role: n.role,
        Address: n.address,
        Arch: n.arch,
        OS: n.os,
        Runtime: n.runtime,
        Tasks: String(n.tasks),
        Labels: n.labels,
        CPUs: String(n.resources.cpus),
        Memory: String(n.resources.memoryBytes),
      })),
  filters: {
    id: (n, v) => idMatches(n.id, v),
    name: (n, v) => n.name.includes(v),
    label: (n, v) => labelMatches(n.labels, v),
    'node.label': (n, v) => labelMatches(n.labels, v),
    role: (n, v) => n.role === v,
    // Nodes join with a token and are accepted at once: none waits for approval.
    membership: (_n, v) => v === 'accepted',
  },
};

export const managerListing: Listing<ManagerView> = {
  columns: [
    { header: 'ID', field: 'ID' },
    { header: 'NAME', field: 'Name' },
    { header: 'ADDRESS', field: 'Address' },
    { header: 'STATUS', field: 'Status' },
    { header: 'RAFT', field: 'Raft' },
    { header: 'ROLE', field: 'Role' },
    { header: 'APPLIED INDEX', field: 'AppliedIndex' },
  ],
  rows: (managers, { noTrunc }) =>
    managers.map((m) => ({
      ID: noTrunc ? m.id : shortId(m.id),
      Name: m.name,
      Address: m.address,
      Status: managerState(m),
      Raft: m.raft,
      Role: m.role,
      AppliedIndex: m.appliedIndex === null ? '-' : String(m.appliedIndex),
    })),
  filters: {
    id: (m, v) => idMatches(m.id, v),
    name: (m, v) => m.name.includes(v),
    role: (m, v) => m.role === v,
  },
};
