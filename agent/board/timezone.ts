// The time zone from fleet.json: /etc/localtime linked to its zoneinfo file and /etc/timezone, refused when the zone does not exist.
import { under, type SetupStep } from './context.js';
import { promises as fs } from 'node:fs';
import { linkIfChanged, writeIfChanged } from './files.js';

/** /etc/localtime's target, relative as Debian's tzdata makes it. */
export const localtimeTarget = (zone: string): string => `../usr/share/zoneinfo/${zone}`;

export const applyTimezone: SetupStep = async (ctx) => {
  const zone = ctx.settings.timezone;
  if (zone === undefined) return 'not set, left as it is';
  const file = await fs.stat(under(ctx, `usr/share/zoneinfo/${zone}`)).catch(() => null);
  if (!file?.isFile()) {
    throw new Error(
      `unknown time zone ${zone}: no /usr/share/zoneinfo/${zone} (is tzdata installed?)`,
    );
  }
  const linked = await linkIfChanged(under(ctx, 'etc/localtime'), localtimeTarget(zone));
  const written = await writeIfChanged(under(ctx, 'etc/timezone'), `${zone}\n`);
  return linked || written ? `set to ${zone}` : `${zone}, unchanged`;
};
