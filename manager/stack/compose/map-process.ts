// The task's process: command, entrypoint, environment and env_file, health check, stop settings, user, directory and labels.
import type { z } from 'zod';
import { STACK_LABEL } from '../../../shared/network.js';
import type { Healthcheck, taskTemplateSchema } from '../../../shared/spec.js';
import { hostnameTemplateProblem } from '../../../shared/spec.js';
import { keyValues, stringList, type MapContext } from './context.js';
import { parseDotenv } from './dotenv.js';
import { parseComposeDuration } from './durations.js';
import { isMapping, type Mapping, type Value, text } from './locator.js';
import { shellWords } from './shell-words.js';

export type TaskInput = z.input<typeof taskTemplateSchema>;

export function mapProcess(ctx: MapContext, svc: Mapping, name: string): Partial<TaskInput> {
  const t: Partial<TaskInput> = {};
  const command = words(ctx, svc, 'command', name);
  if (command) t.command = command;
  const entrypoint = words(ctx, svc, 'entrypoint', name);
  if (entrypoint) t.entrypoint = entrypoint;
  t.env = environment(ctx, svc);
  const health = healthcheck(ctx, svc, name);
  if (health) t.healthcheck = health;
  const grace = duration(ctx, svc, 'stop_grace_period', name);
  if (grace !== undefined) t.stopGracePeriodMs = grace;
  if (typeof svc.stop_signal === 'string') t.stopSignal = svc.stop_signal.toUpperCase();
  if (typeof svc.init === 'boolean') t.init = svc.init;
  if (svc.user !== undefined && svc.user !== null) t.user = text(svc.user);
  if (typeof svc.working_dir === 'string') t.workdir = svc.working_dir;
  if (typeof svc.hostname === 'string') {
    const problem = hostnameTemplateProblem(svc.hostname);
    if (problem) ctx.problem(svc, 'hostname', `service "${name}": hostname: ${problem}`);
    t.hostname = svc.hostname;
  }
  if (typeof svc.read_only === 'boolean') t.readOnly = svc.read_only;
  if (typeof svc.tty === 'boolean') t.tty = svc.tty;
  if (svc.dns !== undefined) t.dns = stringList(svc.dns);
  t.containerLabels = { ...keyValues(svc.labels), [STACK_LABEL]: ctx.stack };
  return t;
}

/** A string is split as a shell would; a list is used as it is. */
function words(ctx: MapContext, svc: Mapping, key: string, name: string): string[] | undefined {
  const v = svc[key];
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) return v.map((x) => text(x));
  const out = shellWords(text(v));
  if (out === null) ctx.problem(svc, key, `service "${name}": ${key} has an unclosed quote`);
  return out ?? [];
}

/** A duration key of `parent`, in milliseconds; a bad one is a problem. */
export function duration(
  ctx: MapContext,
  parent: Mapping,
  key: string,
  name: string,
): number | undefined {
  const v = parent[key];
  if (v === undefined || v === null) return undefined;
  const ms = parseComposeDuration(text(v));
  if (ms === null)
    ctx.problem(
      parent,
      key,
      `service "${name}": ${key} "${text(v)}" is not a duration such as 10s`,
    );
  return ms ?? undefined;
}

/** env_file entries first, in order, then environment:, which wins. */
function environment(ctx: MapContext, svc: Mapping): Record<string, string> {
  const env: Record<string, string> = {};
  const files = Array.isArray(svc.env_file) ? svc.env_file : svc.env_file ? [svc.env_file] : [];
  files.forEach((entry, i) => {
    const list = Array.isArray(svc.env_file) ? svc.env_file : svc;
    const key = Array.isArray(svc.env_file) ? i : 'env_file';
    Object.assign(env, envFile(ctx, entry, list, key));
  });
  Object.assign(
    env,
    keyValues(svc.environment, (k) => ctx.opts.env[k]),
  );
  return env;
}

function envFile(ctx: MapContext, entry: Value, parent: object, key: string | number) {
  const path = isMapping(entry) ? text(entry.path) : text(entry);
  const required = !(isMapping(entry) && entry.required === false);
  let bytes: Buffer | null = null;
  try {
    bytes = ctx.opts.readFile(ctx.path(path));
  } catch (e) {
    if (!required && (e as { code?: unknown }).code === 'ENOENT') return {};
    bytes = ctx.read(path, parent, key, 'env_file');
  }
  if (!bytes) return {};
  const out: Record<string, string> = {};
  const lines = parseDotenv(bytes.toString('utf8'), (line, why) =>
    ctx.problems.add({ file: path, line }, `env_file: ${why}`),
  );
  for (const l of lines) {
    const value = l.value ?? ctx.opts.env[l.key];
    if (value !== undefined) out[l.key] = value;
  }
  return out;
}

function healthcheck(ctx: MapContext, svc: Mapping, name: string): Healthcheck | undefined {
  const h = svc.healthcheck;
  if (!isMapping(h)) return undefined;
  if (h.disable === true) return { test: ['NONE'] };
  const out: Healthcheck = {};
  if (typeof h.test === 'string') out.test = ['CMD-SHELL', h.test];
  else if (Array.isArray(h.test)) {
    out.test = h.test.map((x) => text(x));
    if (!['CMD', 'CMD-SHELL', 'NONE'].includes(out.test[0] ?? ''))
      ctx.problem(
        h,
        'test',
        `service "${name}": healthcheck.test as a list starts with CMD, CMD-SHELL or NONE`,
      );
  }
  const fields: [string, 'intervalMs' | 'timeoutMs' | 'startPeriodMs'][] = [
    ['interval', 'intervalMs'],
    ['timeout', 'timeoutMs'],
    ['start_period', 'startPeriodMs'],
  ];
  for (const [key, field] of fields) {
    const ms = duration(ctx, h, key, name);
    if (ms !== undefined) out[field] = ms;
  }
  if (typeof h.retries === 'number') out.retries = h.retries;
  return out;
}
