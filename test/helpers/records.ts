// Store records for unit tests of the manager's pure logic.
import { serviceSpecSchema, type NodeRecord, type ServiceRecord } from '../../shared/spec.js';

/** A ready, active worker node with 4 CPUs and 4 GiB; override any field. */
export function nodeRecord(id: string, extra: Partial<NodeRecord> = {}): NodeRecord {
  return {
    id,
    name: id,
    role: 'worker',
    status: 'ready',
    statusMessage: '',
    availability: 'active',
    address: '127.0.0.2',
    arch: 'amd64',
    os: 'linux',
    labels: {},
    resources: { cpus: 4, memoryBytes: 4 * 1024 ** 3 },
    runtime: 'docker',
    signPub: '',
    boxPub: '',
    certSerial: '',
    agentVersion: '',
    createdAt: 0,
    updatedAt: 0,
    ...extra,
  };
}

/** A service record at spec version 1 from a spec (parsed, so defaults apply); id svc-NAME. */
export function serviceRecord(spec: { name: string } & Record<string, unknown>): ServiceRecord {
  return {
    id: `svc-${spec.name}`,
    spec: serviceSpecSchema.parse(spec),
    specVersion: 1,
    createdAt: 0,
    updatedAt: 0,
  };
}
