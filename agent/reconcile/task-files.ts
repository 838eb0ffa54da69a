// Writes a task's secrets (unsealed, to memory-backed storage only) and configs as files for its runtime.
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../../shared/log.js';
import type { AssignedTask } from '../../shared/protocol.js';
import { unseal } from '../../shared/sealing.js';
import { TaskRejectedError, type TaskFiles } from '../runtime/types.js';

const execFileP = promisify(execFile);
const SHM = '/dev/shm';

export interface TaskFileOptions {
  nodeId: string;
  dataDir: string;
  /** The node's x25519 box secret key (base64), from its identity file. */
  boxSecretKey: string;
  logger: Logger;
  /** Where unsealed secrets go; found on first use when not given (see memoryRoot). */
  secretsRoot?: string;
}

export class TaskFileStore {
  private root: Promise<string | null> | undefined;

  constructor(private readonly opts: TaskFileOptions) {}

  /** Writes the task's files and says where they are; throws TaskRejectedError when it cannot. */
  async materialize(task: AssignedTask): Promise<TaskFiles> {
    const { secrets: secretRefs, configs: configRefs } = task.template;
    const files: TaskFiles = { mounts: [], secretsDir: null, configsDir: null };
    if (secretRefs.length > 0) {
      const root = await this.secretsRoot();
      if (!root)
        throw new TaskRejectedError(
          'this node has no memory-backed storage for secrets (no tmpfs at /dev/shm, not root)',
        );
      const dir = path.join(root, safe(task.id));
      await freshDir(dir);
      for (const name of new Set(secretRefs.map((r) => r.name))) {
        const sealed = task.secrets?.find((s) => s.name === name)?.sealed;
        const value = sealed === undefined ? null : unseal(sealed, this.opts.boxSecretKey);
        if (!value) throw new TaskRejectedError(`secret ${name} was not delivered to this node`);
        await writeFile(path.join(dir, name), value, 0o400);
        value.fill(0);
      }
      files.secretsDir = dir;
      for (const r of secretRefs)
        files.mounts.push({ source: path.join(dir, r.name), target: r.target });
    }
    if (configRefs.length > 0) {
      const dir = path.join(this.configsRoot(), safe(task.id));
      await freshDir(dir);
      for (const name of new Set(configRefs.map((r) => r.name))) {
        const data = task.configs?.find((c) => c.name === name)?.data;
        if (data === undefined)
          throw new TaskRejectedError(`config ${name} was not delivered to this node`);
        await writeFile(path.join(dir, name), Buffer.from(data, 'base64'), 0o444);
      }
      files.configsDir = dir;
      for (const r of configRefs)
        files.mounts.push({ source: path.join(dir, r.name), target: r.target });
    }
    return files;
  }

  /** Deletes a removed task's files. */
  async remove(taskId: string): Promise<void> {
    for (const root of this.roots()) {
      await fs.rm(path.join(root, safe(taskId)), { recursive: true, force: true });
    }
  }

  /** Deletes the files of every task not in `keep` (tasks removed while the agent was away). */
  async sweep(keep: ReadonlySet<string>): Promise<void> {
    const keepNames = new Set([...keep].map(safe));
    for (const root of this.roots()) {
      const names = await fs.readdir(root).catch(() => [] as string[]);
      for (const n of names) {
        if (!keepNames.has(n)) await fs.rm(path.join(root, n), { recursive: true, force: true });
      }
    }
    // Leave nothing behind in the shared /dev/shm once no task of this node has secrets.
    const shm = this.shmDir();
    if (!this.opts.secretsRoot && (await isEmptyDir(shm))) {
      await fs.rmdir(shm).catch(() => undefined);
      this.root = undefined;
    }
  }

  /** Every place task files may have been written, named without creating anything. */
  private roots(): string[] {
    return [
      this.configsRoot(),
      this.opts.secretsRoot ?? this.shmDir(),
      path.join(this.opts.dataDir, 'secrets'),
    ];
  }

  private shmDir(): string {
    return path.join(SHM, `fleet-${safe(this.opts.nodeId)}`);
  }

  private configsRoot(): string {
    return path.join(this.opts.dataDir, 'configs');
  }

  private secretsRoot(): Promise<string | null> {
    this.root ??= this.opts.secretsRoot
      ? ownDir(this.opts.secretsRoot).then(() => this.opts.secretsRoot ?? null)
      : memoryRoot(this.opts.nodeId, this.opts.dataDir, this.opts.logger);
    return this.root;
  }
}

/**
 * Memory-backed storage for unsealed secrets: /dev/shm/fleet-<nodeId> when /dev/shm is a
 * tmpfs (any user); otherwise, as root, a tmpfs mounted at <dataDir>/secrets; otherwise none,
 * and tasks that use secrets are rejected rather than written to a disk.
 */
export async function memoryRoot(
  nodeId: string,
  dataDir: string,
  logger: Logger,
): Promise<string | null> {
  const mounts = await fs.readFile('/proc/mounts', 'utf8').catch(() => '');
  const isTmpfs = (dir: string): boolean =>
    mounts.split('\n').some((l) => {
      const [, where, type] = l.split(' ');
      return where === dir && (type === 'tmpfs' || type === 'ramfs');
    });
  if (isTmpfs(SHM)) {
    const dir = path.join(SHM, `fleet-${safe(nodeId)}`);
    await ownDir(dir);
    return dir;
  }
  const dir = path.join(dataDir, 'secrets');
  if (isTmpfs(dir)) return dir;
  if (process.getuid?.() !== 0) return null;
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const opts = 'mode=0700,size=16m,nosuid,nodev,noexec';
    await execFileP('mount', ['-t', 'tmpfs', '-o', opts, 'fleet-secrets', dir]);
    return dir;
  } catch (e) {
    logger.warn('cannot mount a tmpfs for secrets', { dir, error: String(e) });
    return null;
  }
}

/** Creates a 0700 directory of ours; refuses a symlink or another user's directory in its place. */
async function ownDir(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await fs.lstat(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid))
    throw new Error(`${dir} is not a directory owned by this agent`);
  await fs.chmod(dir, 0o700);
}

async function isEmptyDir(dir: string): Promise<boolean> {
  const names = await fs.readdir(dir).catch(() => null);
  return names !== null && names.length === 0;
}

async function freshDir(dir: string): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
}

async function writeFile(file: string, data: Uint8Array, mode: number): Promise<void> {
  await fs.writeFile(file, data, { mode, flag: 'wx' });
}

/** Task ids and names are checked by schemas; this keeps any path component harmless anyway. */
const safe = (s: string): string => s.replace(/[^a-zA-Z0-9_.-]/g, '_').replace(/^\.+/, '_');
