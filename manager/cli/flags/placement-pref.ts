// Placement preferences: --placement-pref spread=node.labels.KEY (and its -add/-rm forms).
import type { PlacementPref } from '../../../shared/spec.js';
import { invalid } from '../usage.js';
import { repeatable } from './values.js';

export function parsePlacementPref(flag: string, text: string): PlacementPref {
  const m = /^spread=(node\.labels\.[A-Za-z0-9_.-]{1,128})$/.exec(text.trim());
  if (!m || !m[1])
    throw invalid(flag, text, 'spread=node.labels.KEY, e.g. spread=node.labels.zone');
  return { spread: m[1] };
}

export const placementPrefOption = (flag: string) =>
  ({
    ...repeatable,
    describe: 'spread tasks over the values of a node label first: spread=node.labels.KEY',
    coerce: (v: string[]) => v.map((p) => parsePlacementPref(flag, p)),
  }) as const;
