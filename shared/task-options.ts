// The host settings a task may ask for (mounts, devices, limits, hostname, user…) and the placement preferences of a service.
import { z } from 'zod';

/** An absolute path without "..", as a container or a bind mount sees it. */
const absolutePath = z
  .string()
  .max(4096)
  .refine((p) => p.startsWith('/') && !p.split('/').includes('..') && !p.includes('\0'), {
    message: 'an absolute path without ".."',
  });

/** Docker's own rule for volume names. */
export const VOLUME_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/** Docker refuses a memory limit under 6 MiB; saying so here gives the reason before a task fails. */
export const MIN_MEMORY_LIMIT = 6 * 1024 * 1024;

export const mountSchema = z
  .object({
    type: z.enum(['volume', 'bind', 'tmpfs']),
    /** A volume's name (per node, created when missing) or a bind mount's host path. */
    source: z.string().max(4096).optional(),
    target: absolutePath,
    readOnly: z.boolean().optional(),
    volumeDriver: z.string().min(1).max(128).optional(),
    volumeOptions: z.record(z.string().min(1).max(128), z.string().max(1024)).optional(),
    tmpfsSizeBytes: z.number().int().min(0).optional(),
  })
  .superRefine((m, ctx) => {
    const problem = mountProblem(m);
    if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
  });
export type MountSpec = z.infer<typeof mountSchema>;

function mountProblem(m: {
  type: string;
  source?: string | undefined;
  volumeDriver?: string | undefined;
  volumeOptions?: Record<string, string> | undefined;
  tmpfsSizeBytes?: number | undefined;
}): string | null {
  if (m.type === 'volume') {
    if (!m.source) return 'a volume mount needs source=NAME (volumes are named, one per node)';
    if (!VOLUME_NAME_RE.test(m.source))
      return `volume name "${m.source}": use letters, digits, "_", "." and "-"`;
  }
  if (m.type === 'bind' && (!m.source || !m.source.startsWith('/') || m.source.includes('\0')))
    return 'a bind mount needs source=/absolute/host/path';
  if (m.type === 'tmpfs' && m.source) return 'a tmpfs mount takes no source';
  if (m.type !== 'volume' && (m.volumeDriver || m.volumeOptions))
    return 'volume-driver and volume-opt apply to type=volume only';
  if (m.type !== 'tmpfs' && m.tmpfsSizeBytes !== undefined)
    return 'tmpfs-size applies to type=tmpfs only';
  return null;
}

export const deviceSchema = z.object({
  host: absolutePath,
  container: absolutePath,
  /** Any of r, w and m (mknod), as Docker's cgroup permissions. */
  permissions: z.string().regex(/^[rwm]{1,3}$/, 'permissions are r, w and m'),
});
export type DeviceSpec = z.infer<typeof deviceSchema>;

export const ulimitSchema = z.object({
  name: z.string().regex(/^[a-z]{2,16}$/, 'a limit name such as nofile or memlock'),
  soft: z.number().int().min(-1),
  hard: z.number().int().min(-1),
});
export type UlimitSpec = z.infer<typeof ulimitSchema>;

const capability = z
  .string()
  .regex(/^(CAP_)?[A-Z_]{2,32}$|^ALL$/i, 'a capability such as NET_ADMIN or SYS_TIME');

/** The variables a --hostname template may use, as Docker names them. */
export const HOSTNAME_FIELDS = [
  'Service.Name',
  'Task.Slot',
  'Task.ID',
  'Node.Hostname',
  'Node.ID',
] as const;
const placeholderRe = /\{\{\s*\.([A-Za-z.]+)\s*\}\}/g;

/** Null when every {{.X}} in the text is one fleet renders, else what is wrong. */
export function hostnameTemplateProblem(text: string): string | null {
  for (const m of text.matchAll(placeholderRe)) {
    const field = m[1] ?? '';
    if (!(HOSTNAME_FIELDS as readonly string[]).includes(field))
      return `unknown template field {{.${field}}}; use ${HOSTNAME_FIELDS.map((f) => `{{.${f}}}`).join(', ')}`;
  }
  const rest = text.replace(placeholderRe, 'x');
  if (rest.includes('{{') || rest.includes('}}')) return 'a template field is {{.Name}}';
  if (!/^[a-zA-Z0-9._-]*$/.test(rest)) return 'a hostname uses letters, digits, "-" and "."';
  return null;
}

export interface HostnameValues {
  serviceName: string;
  slot: number;
  taskId: string;
  nodeName: string;
  nodeId: string;
}

/** Fills a --hostname template; the result is cut to the 63 characters a hostname may have. */
export function renderHostname(template: string, v: HostnameValues): string {
  const values: Record<string, string> = {
    'Service.Name': v.serviceName,
    'Task.Slot': String(v.slot),
    'Task.ID': v.taskId,
    'Node.Hostname': v.nodeName,
    'Node.ID': v.nodeId,
  };
  const out = template.replace(placeholderRe, (whole, field: string) => values[field] ?? whole);
  return out.replace(/[^a-zA-Z0-9.-]/g, '-').slice(0, 63);
}

/** Extra task template fields: each absent unless the user set it, so older specs read the same. */
export const taskOptionsShape = {
  mounts: z.array(mountSchema).max(64).optional(),
  /** Mount the container's root filesystem read-only. */
  readOnly: z.boolean().optional(),
  devices: z.array(deviceSchema).max(64).optional(),
  privileged: z.boolean().optional(),
  capAdd: z.array(capability).max(64).optional(),
  capDrop: z.array(capability).max(64).optional(),
  groupAdd: z
    .array(z.string().regex(/^[a-zA-Z0-9_.-]{1,64}$/, 'a group name or number'))
    .max(64)
    .optional(),
  sysctls: z
    .record(
      z.string().regex(/^[a-z0-9_.-]{1,128}$/, 'a sysctl such as net.ipv4.ip_forward'),
      z.string().max(256),
    )
    .optional(),
  ulimits: z.array(ulimitSchema).max(32).optional(),
  /** Hard limits the runtime enforces (cgroups); reservations are in `resources`. */
  limits: z
    .object({
      cpu: z.number().min(0).optional(),
      memoryBytes: z
        .number()
        .int()
        .min(0)
        .refine((n) => n === 0 || n >= MIN_MEMORY_LIMIT, 'a memory limit is at least 6M')
        .optional(),
    })
    .optional(),
  hostname: z
    .string()
    .max(253)
    .superRefine((h, ctx) => {
      const problem = hostnameTemplateProblem(h);
      if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
    })
    .optional(),
  user: z
    .string()
    .regex(/^[a-zA-Z0-9_.-]{1,64}(:[a-zA-Z0-9_.-]{1,64})?$/, 'USER or USER:GROUP, names or numbers')
    .optional(),
  workdir: absolutePath.optional(),
  containerLabels: z.record(z.string().min(1).max(128), z.string().max(4096)).optional(),
  stopSignal: z
    .string()
    .regex(/^(SIG)?[A-Z0-9+-]{2,12}$|^\d{1,2}$/i, 'a signal such as SIGINT or 2')
    .optional(),
  dns: z
    .array(z.string().regex(/^[0-9a-fA-F.:]{2,45}$/, 'an IP address'))
    .max(8)
    .optional(),
  tty: z.boolean().optional(),
  /**
   * When the cluster stores the image but its copy cannot be fetched or loaded on the node, pull
   * the same reference from its registry instead of failing the task (--registry-fallback).
   */
  registryFallback: z.boolean().optional(),
};
export const taskOptionsSchema = z.object(taskOptionsShape);
export type TaskOptions = z.infer<typeof taskOptionsSchema>;

/** --placement-pref spread=node.labels.KEY: tasks spread over the label's values first. */
export const placementPrefSchema = z.object({
  spread: z.string().regex(/^node\.labels\.[A-Za-z0-9_.-]{1,128}$/, 'spread=node.labels.KEY'),
});
export type PlacementPref = z.infer<typeof placementPrefSchema>;

export const placementShape = {
  placementPrefs: z.array(placementPrefSchema).max(8).optional(),
};

/**
 * The options a task uses that need an agent started with --allow-devices (privileged access to
 * the board), as the flags that set them; empty when it needs none.
 */
export function deviceOptionsUsed(t: TaskOptions): string[] {
  const used: string[] = [];
  if (t.devices?.length) used.push('--device');
  if (t.privileged) used.push('--privileged');
  if (t.capAdd?.length) used.push('--cap-add');
  if (t.capDrop?.length) used.push('--cap-drop');
  if (t.groupAdd?.length) used.push('--group-add');
  if (t.sysctls && Object.keys(t.sysctls).length > 0) used.push('--sysctl');
  if (t.ulimits?.length) used.push('--ulimit');
  return used;
}

/** Why an agent refuses a task for want of --allow-devices. */
export const devicesRefused = (used: readonly string[]): string =>
  `this node does not allow devices: ${used.join(', ')} need an agent started with --allow-devices`;
