// The soak's workload: which services it runs and how it churns them, read from a small YAML file or the default.
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseDuration } from '../../../shared/spec.js';
import { prng } from './schedule.js';

const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = typeof v === 'number' ? v * 1000 : parseDuration(v);
  if (ms === null || ms <= 0) {
    ctx.addIssue({ code: 'custom', message: `not a duration: ${String(v)} (e.g. 10s, 2m)` });
    return z.NEVER;
  }
  return ms;
});

const name = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_-]{0,40}$/, 'letters, digits, "-" and "_"');

const churnSchema = z.object({
  name: name.default('soak-churn'),
  image: z.string().min(1).default('busybox'),
  command: z.array(z.string()).default(['sleep', '86400']),
  /** Replicas move between these at each scale. */
  min: z.number().int().min(0).max(10_000).default(2),
  max: z.number().int().min(1).max(10_000).default(12),
  constraints: z.array(z.string()).default([]),
});

const probeSchema = z.object({
  name: name.default('soak-probe'),
  image: z.string().min(1).default('busybox'),
  /** Listens on the port the task is given ($PORT under the process runtime, 8080 in a container). */
  command: z
    .array(z.string())
    .default([
      'sh',
      '-c',
      'exec busybox httpd -f -p "${FLEET_HOST_IP:-0.0.0.0}:${PORT:-8080}" -h /',
    ]),
  target: z.number().int().min(1).max(65535).default(8080),
  /** The port every node answers for the service; probes go there on each node's address. */
  published: z.number().int().min(1).max(65535).default(28080),
  /** Simulated boards run no real process: the probe's tasks go to real ones. */
  constraints: z.array(z.string()).default(['node.labels.fleet.sim!=true']),
  /** Probes per node per second. */
  rate: z.number().min(0.1).max(50).default(1),
});

export const workloadSchema = z
  .object({
    churn: churnSchema.default(churnSchema.parse({})),
    /** null: no ingress service and no probes. */
    probe: probeSchema.nullable().default(probeSchema.parse({})),
    /** A workload action (scale, update, rollback) this often on average. */
    every: duration.default(10_000),
    /** Relative weights of the actions. */
    mix: z
      .object({
        scale: z.number().min(0).default(3),
        update: z.number().min(0).default(2),
        rollback: z.number().min(0).default(1),
      })
      .default({ scale: 3, update: 2, rollback: 1 }),
    /** A numbered config is written this often: every acknowledged one must exist at the end. */
    writeEvery: duration.default(5_000),
  })
  .strict();
export type Workload = z.infer<typeof workloadSchema>;

export const DEFAULT_WORKLOAD: Workload = workloadSchema.parse({});

/** Parses a workload file's text; the error names the field and what is wrong. */
export function parseWorkload(text: string, file: string): Workload {
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (e) {
    throw new Error(`${file}: not YAML: ${e instanceof Error ? e.message : String(e)}`);
  }
  const r = workloadSchema.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues[0];
    const where = first?.path.join('.') || '(top level)';
    throw new Error(`${file}: ${where}: ${first?.message ?? 'invalid'}`);
  }
  if (r.data.churn.min > r.data.churn.max)
    throw new Error(
      `${file}: churn.min (${r.data.churn.min}) is above churn.max (${r.data.churn.max})`,
    );
  return r.data;
}

export type WorkloadAction =
  | { kind: 'scale'; at: number; replicas: number }
  | { kind: 'update'; at: number; generation: number }
  | { kind: 'rollback'; at: number };

/** The churn actions of a run, from the seed (a stream apart from the faults'). */
export function planActions(w: Workload, seed: number, durationMs: number): WorkloadAction[] {
  const r = prng((seed ^ 0x5eed5eed) >>> 0);
  const { scale, update, rollback } = w.mix;
  const total = scale + update + rollback;
  const out: WorkloadAction[] = [];
  if (total <= 0) return out;
  let generation = 0;
  for (
    let at = Math.round(w.every * (0.5 + r()));
    at < durationMs;
    at += Math.round(w.every * (0.5 + r()))
  ) {
    const x = r() * total;
    if (x < scale) {
      const replicas = w.churn.min + Math.floor(r() * (w.churn.max - w.churn.min + 1));
      out.push({ kind: 'scale', at, replicas });
    } else if (x < scale + update) out.push({ kind: 'update', at, generation: ++generation });
    else out.push({ kind: 'rollback', at });
  }
  return out;
}

/** The workload file a user starts from: `fleet soak --print-workload`. */
export const WORKLOAD_EXAMPLE = `# fleet soak workload: every field is optional; these are the defaults.
churn:                 # a replicated service scaled, updated and rolled back all the time
  name: soak-churn
  image: busybox
  command: [sleep, "86400"]
  min: 2               # replicas move between min and max
  max: 12
  constraints: []
probe:                 # a global HTTP service behind the ingress; every node is probed (null: none)
  name: soak-probe
  image: busybox
  target: 8080
  published: 28080
  constraints: ["node.labels.fleet.sim!=true"]
  rate: 1              # probes per node per second
every: 10s             # one churn action this often on average
mix: { scale: 3, update: 2, rollback: 1 }
writeEvery: 5s         # a numbered config written this often (the lost-write check)
`;
