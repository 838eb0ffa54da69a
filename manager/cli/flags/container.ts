// How the task's process is set up: --hostname, --user, --workdir, --env-file, --container-label, --stop-signal, --dns and --tty.
import { readFileSync } from 'node:fs';
import { hostnameTemplateProblem } from '../../../shared/spec.js';
import { UsageError, invalid } from '../usage.js';
import { parseKeyValues } from './env-labels.js';
import { repeatable } from './values.js';

/**
 * A Docker env file: KEY=VALUE lines, blank lines and # comments skipped; a bare KEY takes the
 * value it has in this shell, or is left out when it has none.
 */
export function parseEnvFile(text: string, file: string): Record<string, string> {
  const out: Record<string, string> = {};
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const key = eq < 0 ? line.trim() : line.slice(0, eq);
    if (key === '' || /\s/.test(key))
      throw new UsageError(`--env-file ${file}, line ${i + 1}: expected KEY=VALUE`);
    if (eq >= 0) out[key] = line.slice(eq + 1);
    else if (process.env[key] !== undefined) out[key] = process.env[key];
  });
  return out;
}

/** Reads the files in order: a later file's value wins. */
export function readEnvFiles(files: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(e);
      throw new UsageError(`--env-file ${file}: ${why}`);
    }
    Object.assign(out, parseEnvFile(text, file));
  }
  return out;
}

export const envFileOption = {
  ...repeatable,
  describe: 'read environment variables from a file of KEY=VALUE lines; --env wins',
  coerce: (v: string[]) => readEnvFiles(v),
} as const;

export const hostnameOption = {
  type: 'string',
  requiresArg: true,
  describe:
    'container hostname; may use {{.Service.Name}}, {{.Task.Slot}}, {{.Task.ID}}, {{.Node.Hostname}}, {{.Node.ID}}',
  coerce: (v: string) => {
    const problem = hostnameTemplateProblem(v);
    if (problem) throw invalid('hostname', v, problem);
    return v;
  },
} as const;

export const userOption = {
  type: 'string',
  requiresArg: true,
  alias: 'u',
  describe: 'run the task as USER[:GROUP] (names or numbers)',
  coerce: (v: string) => {
    if (v !== '' && !/^[a-zA-Z0-9_.-]{1,64}(:[a-zA-Z0-9_.-]{1,64})?$/.test(v))
      throw invalid('user', v, 'USER or USER:GROUP');
    return v;
  },
} as const;

export const workdirOption = {
  type: 'string',
  requiresArg: true,
  alias: 'w',
  describe: 'working directory of the task, an absolute path',
  coerce: (v: string) => {
    if (v !== '' && (!v.startsWith('/') || v.split('/').includes('..')))
      throw invalid('workdir', v, 'an absolute path');
    return v;
  },
} as const;

export const stopSignalOption = {
  type: 'string',
  requiresArg: true,
  describe: "signal that stops the task, e.g. SIGINT [default: the image's, else SIGTERM]",
  coerce: (v: string) => {
    if (v !== '' && !/^(SIG)?[A-Z0-9+-]{2,12}$|^\d{1,2}$/i.test(v))
      throw invalid('stop-signal', v, 'a signal such as SIGINT or 2');
    return v.toUpperCase();
  },
} as const;

export const ttyOption = {
  type: 'boolean',
  alias: 't',
  describe: 'give the task a pseudo-terminal',
} as const;

export const dnsOption = (flag: string) =>
  ({
    ...repeatable,
    describe: 'a DNS server the task uses, repeatable',
    coerce: (v: string[]) => {
      for (const ip of v)
        if (!/^[0-9a-fA-F.:]{2,45}$/.test(ip)) throw invalid(flag, ip, 'an IP address');
      return v;
    },
  }) as const;

export const dnsRmOption = { ...repeatable, describe: 'remove a DNS server' } as const;

export const containerLabelOption = (flag: string) =>
  ({
    ...repeatable,
    describe: "label KEY=VALUE on the task's container (fleet.* are fleet's own)",
    coerce: (v: string[]) => {
      const labels = parseKeyValues(flag, v);
      for (const k of Object.keys(labels))
        if (k.startsWith('fleet.')) throw invalid(flag, k, 'a label outside fleet.*');
      return labels;
    },
  }) as const;

export const containerLabelRmOption = {
  ...repeatable,
  describe: 'remove a container label, by key',
} as const;
