// --network NAME (or name=NAME,alias=ALIAS…) on `service create`, and --network-add/--network-rm on `service update`.
import {
  dnsNameSchema,
  networkNameSchema,
  type NetworkAttachment,
} from '../../../shared/network.js';
import { invalid } from '../usage.js';
import { repeatable } from './values.js';

/** Parses one --network value: a bare name, or Docker's long form with aliases. */
export function parseNetwork(flag: string, text: string): NetworkAttachment {
  const fields = text.includes('=') ? text.split(',') : [`name=${text}`];
  let name = '';
  const aliases: string[] = [];
  for (const field of fields) {
    const eq = field.indexOf('=');
    const key = field.slice(0, eq).trim();
    const value = field.slice(eq + 1).trim();
    if (key === 'name' || key === 'target') name = value;
    else if (key === 'alias') {
      if (!dnsNameSchema.safeParse(value).success)
        throw invalid(flag, text, 'aliases of letters, digits, "-" and "_"');
      aliases.push(value);
    } else throw invalid(flag, text, 'NAME or name=NAME[,alias=ALIAS…]');
  }
  if (!networkNameSchema.safeParse(name).success)
    throw invalid(flag, text, 'a network name of letters, digits, "_", "-" and "."');
  return { name, aliases };
}

export const networkOption = (flag: string) =>
  ({
    ...repeatable,
    describe: 'join a network (its services are found by name there): NAME or name=N,alias=A',
    coerce: (v: string[]) => v.map((t) => parseNetwork(flag, t)),
  }) as const;

export const networkRmOption = {
  ...repeatable,
  describe: 'leave a network, by name',
} as const;
