// Access to the board (devices, privileged, capabilities, groups, sysctls, ulimits): the keys Swarm lacks, mapped onto fleet's device options.
import type { UlimitSpec } from '../../../shared/spec.js';
import { capabilitiesFlag, parseDevice } from '../../cli/flags/devices.js';
import { UsageError } from '../../cli/usage.js';
import { keyValues, stringList, type MapContext } from './context.js';
import { isMapping, type Mapping, text } from './locator.js';
import type { TaskInput } from './map-process.js';

export function mapHost(ctx: MapContext, svc: Mapping, name: string): Partial<TaskInput> {
  const t: Partial<TaskInput> = {};
  const fail = (key: string, e: unknown, index?: number): void => {
    if (!(e instanceof UsageError)) throw e;
    const where = index === undefined ? svc : (svc[key] as object);
    ctx.problem(
      where,
      index ?? key,
      `service "${name}": ${key}: ${e.message.replace(/^Invalid value for --[a-z-]+: /, '')}`,
    );
  };
  if (Array.isArray(svc.devices)) {
    const list = svc.devices;
    t.devices = [];
    list.forEach((d, i) => {
      try {
        t.devices?.push(parseDevice('devices', text(d)));
      } catch (e) {
        fail('devices', e, i);
      }
    });
  }
  if (typeof svc.privileged === 'boolean') t.privileged = svc.privileged;
  for (const [key, field] of [
    ['cap_add', 'capAdd'],
    ['cap_drop', 'capDrop'],
  ] as const) {
    if (svc[key] === undefined) continue;
    try {
      t[field] = capabilitiesFlag(key, stringList(svc[key]));
    } catch (e) {
      fail(key, e);
    }
  }
  if (svc.group_add !== undefined) t.groupAdd = stringList(svc.group_add);
  if (svc.sysctls !== undefined) t.sysctls = keyValues(svc.sysctls);
  if (isMapping(svc.ulimits)) t.ulimits = ulimits(ctx, svc.ulimits, name);
  return t;
}

/** nofile: 1024 or nofile: {soft: 1024, hard: 2048}. */
function ulimits(ctx: MapContext, m: Mapping, name: string): UlimitSpec[] {
  const out: UlimitSpec[] = [];
  for (const [limit, v] of Object.entries(m)) {
    const soft = typeof v === 'number' ? v : isMapping(v) ? Number(v.soft) : NaN;
    const hard = typeof v === 'number' ? v : isMapping(v) ? Number(v.hard) : NaN;
    if (!Number.isInteger(soft) || !Number.isInteger(hard) || (hard !== -1 && soft > hard)) {
      ctx.problem(
        m,
        limit,
        `service "${name}": ulimits.${limit}: a soft limit no higher than the hard one`,
      );
      continue;
    }
    out.push({ name: limit, soft, hard });
  }
  return out;
}
