// The task options on `service create` and their -add/-rm forms on `service update`, and what each command sends.
import type { Argv } from 'yargs';
import type {
  DeviceSpec,
  MountSpec,
  PlacementPref,
  TaskOptions,
  UlimitSpec,
} from '../../../shared/spec.js';
import type { NetworkAttachment } from '../../../shared/network.js';
import type { OptionsChangeInput } from '../../../shared/task-options-change.js';
import {
  containerLabelOption,
  containerLabelRmOption,
  dnsOption,
  dnsRmOption,
  envFileOption,
  hostnameOption,
  stopSignalOption,
  ttyOption,
  userOption,
  workdirOption,
} from './container.js';
import {
  capOption,
  deviceOption,
  deviceRmOption,
  groupAddOption,
  groupRmOption,
  namesRmOption,
  privilegedOption,
  sysctlOption,
  ulimitOption,
} from './devices.js';
import { parseKeyValues } from './env-labels.js';
import { networkOption, networkRmOption } from './network.js';
import { limitCpuOption, limitMemoryOption } from './limits.js';
import { mountAddOption, mountOption, mountRmOption, readOnlyOption } from './mounts.js';
import { placementPrefOption } from './placement-pref.js';
import { maxReplicasPerNodeOption } from './placement.js';
import { reserveCpuOption, reserveMemoryOption } from './resources.js';
import { withRestartOptions } from './restart.js';
import { registryFallbackOption } from './registry-auth.js';
import { repeatable } from './values.js';

/** Flags shared by create and update under one name. */
const withCommonOptions = <T>(y: Argv<T>) =>
  y
    .option('read-only', readOnlyOption)
    .option('privileged', privilegedOption)
    .option('cap-add', capOption('cap-add'))
    .option('cap-drop', capOption('cap-drop'))
    .option('group-add', groupAddOption)
    .option('limit-cpu', limitCpuOption)
    .option('limit-memory', limitMemoryOption)
    .option('hostname', hostnameOption)
    .option('user', userOption)
    .option('workdir', workdirOption)
    .option('stop-signal', stopSignalOption)
    .option('tty', ttyOption)
    .option('registry-fallback', registryFallbackOption);

/** `service create`'s task option flags. */
export const withServiceOptions = <T>(y: Argv<T>) =>
  withCommonOptions(y)
    .option('mount', mountOption)
    .option('device', deviceOption('device'))
    .option('sysctl', sysctlOption('sysctl'))
    .option('ulimit', ulimitOption('ulimit'))
    .option('env-file', envFileOption)
    .option('container-label', containerLabelOption('container-label'))
    .option('dns', dnsOption('dns'))
    .option('network', networkOption('network'))
    .option('placement-pref', placementPrefOption('placement-pref'));

/** `service update`'s forms of the same flags, and the other settings `create` takes. */
export const withServiceOptionUpdates = <T>(y: Argv<T>) =>
  withCommonOptions(withRestartOptions(y))
    .option('mount-add', mountAddOption)
    .option('mount-rm', mountRmOption)
    .option('device-add', deviceOption('device-add'))
    .option('device-rm', deviceRmOption)
    .option('group-rm', groupRmOption)
    .option('sysctl-add', sysctlOption('sysctl-add'))
    .option('sysctl-rm', namesRmOption('a sysctl'))
    .option('ulimit-add', ulimitOption('ulimit-add'))
    .option('ulimit-rm', namesRmOption('a ulimit'))
    .option('env-file', { ...envFileOption, describe: 'add or change variables from a file' })
    .option('container-label-add', containerLabelOption('container-label-add'))
    .option('container-label-rm', containerLabelRmOption)
    .option('label-add', {
      ...repeatable,
      describe: 'add or change a service label KEY=VALUE',
      coerce: (v: string[]) => parseKeyValues('label-add', v),
    })
    .option('label-rm', namesRmOption('a service label'))
    .option('dns-add', dnsOption('dns-add'))
    .option('dns-rm', dnsRmOption)
    .option('network-add', networkOption('network-add'))
    .option('network-rm', networkRmOption)
    .option('placement-pref-add', placementPrefOption('placement-pref-add'))
    .option('placement-pref-rm', {
      ...placementPrefOption('placement-pref-rm'),
      describe: 'remove a placement preference, written as added',
    })
    .option('reserve-cpu', reserveCpuOption)
    .option('reserve-memory', reserveMemoryOption)
    .option('max-replicas-per-node', maxReplicasPerNodeOption);

/** What the common flags parse to (absent when not given). */
interface CommonFlags {
  readOnly?: boolean;
  privileged?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  groupAdd?: string[];
  limitCpu?: number;
  limitMemory?: number;
  hostname?: string;
  user?: string;
  workdir?: string;
  stopSignal?: string;
  tty?: boolean;
  registryFallback?: boolean;
}

export interface ServiceOptionFlags extends CommonFlags {
  mount?: MountSpec[];
  device?: DeviceSpec[];
  sysctl?: Record<string, string>;
  ulimit?: UlimitSpec[];
  envFile?: Record<string, string>;
  containerLabel?: Record<string, string>;
  dns?: string[];
  network?: NetworkAttachment[];
  placementPref?: PlacementPref[];
}

/** The task template fields `service create`'s flags set; unset flags leave no field. */
export function taskOptionsOf(f: ServiceOptionFlags): TaskOptions {
  const limits = {
    ...(f.limitCpu ? { cpu: f.limitCpu } : {}),
    ...(f.limitMemory ? { memoryBytes: f.limitMemory } : {}),
  };
  const o: TaskOptions = {
    mounts: nonEmpty(f.mount),
    readOnly: f.readOnly || undefined,
    devices: nonEmpty(f.device),
    privileged: f.privileged || undefined,
    capAdd: nonEmpty(f.capAdd),
    capDrop: nonEmpty(f.capDrop),
    groupAdd: nonEmpty(f.groupAdd),
    sysctls: nonEmptyRecord(f.sysctl),
    ulimits: nonEmpty(f.ulimit),
    limits: Object.keys(limits).length > 0 ? limits : undefined,
    hostname: f.hostname || undefined,
    user: f.user || undefined,
    workdir: f.workdir || undefined,
    containerLabels: nonEmptyRecord(f.containerLabel),
    stopSignal: f.stopSignal || undefined,
    dns: nonEmpty(f.dns),
    tty: f.tty || undefined,
    registryFallback: f.registryFallback || undefined,
  };
  if (f.network?.length) Object.assign(o, { networks: f.network });
  for (const k of Object.keys(o) as (keyof TaskOptions)[]) if (o[k] === undefined) delete o[k];
  return o;
}

export interface ServiceOptionUpdateFlags extends CommonFlags {
  mountAdd?: MountSpec[];
  mountRm?: string[];
  deviceAdd?: DeviceSpec[];
  deviceRm?: string[];
  groupRm?: string[];
  sysctlAdd?: Record<string, string>;
  sysctlRm?: string[];
  ulimitAdd?: UlimitSpec[];
  ulimitRm?: string[];
  containerLabelAdd?: Record<string, string>;
  containerLabelRm?: string[];
  labelAdd?: Record<string, string>;
  labelRm?: string[];
  dnsAdd?: string[];
  dnsRm?: string[];
  networkAdd?: NetworkAttachment[];
  networkRm?: string[];
  placementPrefAdd?: PlacementPref[];
  placementPrefRm?: PlacementPref[];
  reserveCpu?: number;
  reserveMemory?: number;
  restartCondition?: 'none' | 'on-failure' | 'any';
  restartDelay?: number;
  restartMaxAttempts?: number;
  restartWindow?: number;
  maxReplicasPerNode?: number;
}

/** What `service update`'s flags change; the manager applies it (manager/api/options-update.ts). */
export function optionsChangeOf(f: ServiceOptionUpdateFlags): OptionsChangeInput {
  const limits = { cpu: f.limitCpu, memoryBytes: f.limitMemory };
  const reservations = { cpu: f.reserveCpu, memoryBytes: f.reserveMemory };
  const restart = {
    condition: f.restartCondition,
    delayMs: f.restartDelay,
    maxAttempts: f.restartMaxAttempts,
    windowMs: f.restartWindow,
  };
  const change: OptionsChangeInput = {
    readOnly: f.readOnly,
    privileged: f.privileged,
    tty: f.tty,
    registryFallback: f.registryFallback,
    hostname: f.hostname,
    user: f.user,
    workdir: f.workdir,
    stopSignal: f.stopSignal,
    limits: anyDefined(limits) ? limits : undefined,
    reservations: anyDefined(reservations) ? reservations : undefined,
    restart: anyDefined(restart) ? restart : undefined,
    maxReplicasPerNode: f.maxReplicasPerNode,
    mountAdd: f.mountAdd,
    mountRm: f.mountRm,
    deviceAdd: f.deviceAdd,
    deviceRm: f.deviceRm,
    capAdd: f.capAdd,
    capDrop: f.capDrop,
    groupAdd: f.groupAdd,
    groupRm: f.groupRm,
    sysctlAdd: f.sysctlAdd,
    sysctlRm: f.sysctlRm,
    ulimitAdd: f.ulimitAdd,
    ulimitRm: f.ulimitRm,
    dnsAdd: f.dnsAdd,
    dnsRm: f.dnsRm,
    networkAdd: f.networkAdd,
    networkRm: f.networkRm,
    containerLabelAdd: f.containerLabelAdd,
    containerLabelRm: f.containerLabelRm,
    labelAdd: f.labelAdd,
    labelRm: f.labelRm,
    placementPrefAdd: f.placementPrefAdd,
    placementPrefRm: f.placementPrefRm,
  };
  return JSON.parse(JSON.stringify(change)) as OptionsChangeInput; // drops undefined fields
}

const nonEmpty = <T>(v: T[] | undefined): T[] | undefined => (v && v.length > 0 ? v : undefined);
const nonEmptyRecord = (v: Record<string, string> | undefined) =>
  v && Object.keys(v).length > 0 ? v : undefined;
const anyDefined = (o: object): boolean => Object.values(o).some((v) => v !== undefined);
