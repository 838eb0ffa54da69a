// Filters on the node itself: ready, availability and constraints.
import { parseConstraint, type NodeRecord } from '../../../shared/spec.js';
import type { Filter } from './types.js';

export const readyFilter: Filter = {
  name: 'ready',
  static: true,
  check: ({ node }) => (node.status === 'ready' ? null : 'not ready'),
};

export const availabilityFilter: Filter = {
  name: 'availability',
  static: true,
  check: ({ node }) =>
    node.availability === 'active' ? null : `availability ${node.availability}`,
};

export const constraintFilter: Filter = {
  name: 'constraints',
  static: true,
  check: ({ node, task, service }) => {
    for (const text of service?.spec.constraints ?? []) {
      const c = parseConstraint(text);
      if (!c) continue;
      if (!constraintHolds(node, c.key, c.op, c.value)) return describeMiss(c.key, c.op, c.value);
    }
    void task;
    return null;
  },
};

export function constraintHolds(
  node: NodeRecord,
  key: string,
  op: '==' | '!=',
  value: string,
): boolean {
  const actual = nodeAttribute(node, key);
  const equal = actual !== undefined && actual.toLowerCase() === value.toLowerCase();
  return op === '==' ? equal : !equal;
}

function nodeAttribute(node: NodeRecord, key: string): string | undefined {
  switch (key) {
    case 'node.id':
      return node.id;
    case 'node.hostname':
      return node.name;
    case 'node.role':
      return node.role;
    case 'node.platform.arch':
      return node.arch;
    case 'node.platform.os':
      return node.os;
  }
  if (key.startsWith('node.labels.')) return node.labels[key.slice('node.labels.'.length)];
  return undefined;
}

function describeMiss(key: string, op: string, value: string): string {
  if (key === 'node.platform.arch' && op === '==') return `lack arch ${value}`;
  if (key === 'node.platform.os' && op === '==') return `lack os ${value}`;
  if (key.startsWith('node.labels.') && op === '==') {
    return `lack label ${key.slice('node.labels.'.length)}=${value}`;
  }
  return `do not satisfy ${key}${op}${value}`;
}
