// Where tasks may run: --constraint (and its -add/-rm forms) and --max-replicas-per-node.
import { parseConstraint } from '../../../shared/spec.js';
import { invalid } from '../usage.js';
import { countOption, repeatable } from './values.js';

const CONSTRAINT_HELP =
  'node.id|hostname|role|platform.arch|platform.os|labels.KEY followed by == or != and a value';

export function constraintsFlag(flag: string, items: readonly string[]): string[] {
  for (const c of items) if (parseConstraint(c) === null) throw invalid(flag, c, CONSTRAINT_HELP);
  return [...items];
}

export const constraintOption = {
  ...repeatable,
  describe: "placement rule such as 'node.labels.zone==garage', repeatable",
  coerce: (v: string[]) => constraintsFlag('constraint', v),
} as const;

export const constraintAddOption = {
  ...repeatable,
  describe: 'add a placement constraint',
  coerce: (v: string[]) => constraintsFlag('constraint-add', v),
} as const;

export const constraintRmOption = {
  ...repeatable,
  describe: 'remove a constraint, written as added',
} as const;

export const maxReplicasPerNodeOption = countOption(
  'max-replicas-per-node',
  'most tasks of this service on one node [default: no limit]',
);
