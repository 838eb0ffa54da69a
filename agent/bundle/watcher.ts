// Picks up bundles while the agent runs: requests in its inbox (from `bundle apply`) and fleet-bundle*.fleet on mounted sticks.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type Docker from 'dockerode';
import { readJsonFile, writeFileAtomic } from '../../shared/atomic-file.js';
import type { Clock, TimerHandle } from '../../shared/clock.js';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { OtaChild } from '../ota/ota-child.js';
import { applyBundle, isBundleRefused } from './apply.js';
import { summary } from './apply-cli.js';
import {
  REQUEST_SUFFIX,
  RESULT_SUFFIX,
  inboxDir,
  pidFile,
  requestSchema,
  type ApplyResult,
} from './inbox.js';
import type { BundleState } from './state.js';

/** How often the inbox and the bundle dirs are looked at. */
export const SCAN_MS = 2_000;
/** A stick's bundles: fleet-bundle*.fleet in a watched dir or up to two levels below it. */
const BUNDLE_NAME = /^fleet-bundle.*\.fleet$/;
const SCAN_DEPTH = 2;

export interface BundleWatcherDeps {
  dataDir: string;
  /** Where sticks are mounted (--bundle-dir), e.g. /media. */
  dirs: string[];
  clock: Clock;
  logger: Logger;
  docker: Docker | null;
  /** The supervisor link: a bundled release is switched to at once. */
  ota?: OtaChild;
  /** Runs the applied bundle's tasks now. */
  take(state: BundleState): void;
}

/** Starts watching for an agent that runs: the Docker engine of its runtime, its store and passes. */
export async function watchBundles(
  o: Omit<BundleWatcherDeps, 'docker' | 'take'> & { runtime: string; dockerHost?: string },
  agent: { store: { takeBundle(s: BundleState): void }; kick(): void },
): Promise<BundleWatcher> {
  const { resolveDockerHost } = await import('../../shared/docker-host.js');
  const docker =
    o.runtime === 'docker'
      ? new (await import('dockerode')).default({ ...resolveDockerHost(o.dockerHost).options })
      : null;
  const watcher = new BundleWatcher({
    ...o,
    docker,
    take: (state) => {
      agent.store.takeBundle(state);
      agent.kick();
    },
  });
  await watcher.start();
  return watcher;
}

export class BundleWatcher {
  private timer: TimerHandle | undefined;
  private scanning = false;
  /** Stick files tried already, by path, size and time: a refused one is not tried again. */
  private readonly tried = new Set<string>();

  constructor(private readonly deps: BundleWatcherDeps) {}

  async start(): Promise<void> {
    await fs.mkdir(inboxDir(this.deps.dataDir), { recursive: true, mode: 0o700 });
    await writeFileAtomic(pidFile(this.deps.dataDir), `${process.pid}\n`);
    this.timer = this.deps.clock.setInterval(() => void this.scan(), SCAN_MS);
    void this.scan();
  }

  async stop(): Promise<void> {
    if (this.timer) this.deps.clock.clearInterval(this.timer);
    this.timer = undefined;
    await fs.rm(pidFile(this.deps.dataDir), { force: true });
  }

  /** One look at the inbox and the dirs; scans never overlap. */
  async scan(): Promise<void> {
    if (this.scanning) return;
    this.scanning = true;
    try {
      await this.scanInbox();
      for (const dir of this.deps.dirs) await this.scanDir(dir, SCAN_DEPTH);
    } catch (e) {
      this.deps.logger.warn('could not look for bundles', { error: errorMessage(e) });
    } finally {
      this.scanning = false;
    }
  }

  private async scanInbox(): Promise<void> {
    const inbox = inboxDir(this.deps.dataDir);
    for (const name of await fs.readdir(inbox).catch(() => [] as string[])) {
      if (!name.endsWith(REQUEST_SUFFIX)) continue;
      const request = path.join(inbox, name);
      const parsed = requestSchema.safeParse(await readJsonFile(request).catch(() => undefined));
      // Taken: `bundle apply` now waits for the answer however long the images take to load.
      await fs.rm(request, { force: true });
      const result = parsed.success
        ? await this.apply(parsed.data.file)
        : { outcome: { code: 1, text: 'bundle not applied: unreadable request\n' } };
      const answer = path.join(inbox, name.slice(0, -REQUEST_SUFFIX.length) + RESULT_SUFFIX);
      await writeFileAtomic(answer, JSON.stringify(result.outcome));
      // Switch only once the answer is out: the supervisor stops this agent to switch.
      await result.afterwards?.();
    }
  }

  private async scanDir(dir: string, depth: number): Promise<void> {
    const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory() && depth > 0) await this.scanDir(p, depth - 1);
      if (!e.isFile() || !BUNDLE_NAME.test(e.name)) continue;
      const st = await fs.stat(p).catch(() => null);
      const key = st ? `${p}|${st.size}|${st.mtimeMs}` : p;
      if (!st || this.tried.has(key)) continue;
      this.tried.add(key);
      const result = await this.apply(p);
      const log = result.outcome.code === 0 ? 'info' : 'warn';
      this.deps.logger[log]('bundle from a watched dir', { file: p, outcome: result.outcome.text });
      await result.afterwards?.();
    }
  }

  /** Applies one bundle; `afterwards` asks the supervisor for the bundled release, when there is one. */
  private async apply(
    file: string,
  ): Promise<{ outcome: ApplyResult; afterwards?: () => Promise<void> }> {
    const { deps } = this;
    let switchTo: string | undefined;
    try {
      const applied = await applyBundle({
        file,
        dataDir: deps.dataDir,
        clock: deps.clock,
        docker: deps.docker,
        ...(deps.ota ? { requestSwitch: (v: string) => Promise.resolve(void (switchTo = v)) } : {}),
      });
      deps.take(applied.state);
      const ota = deps.ota;
      const afterwards =
        ota && switchTo !== undefined ? () => this.switchTo(ota, switchTo ?? '') : undefined;
      return {
        outcome: { code: 0, text: summary(applied) },
        ...(afterwards ? { afterwards } : {}),
      };
    } catch (e) {
      if (isBundleRefused(e)) return { outcome: { code: 3, text: `${e.message}\n` } };
      return { outcome: { code: 1, text: `bundle not applied: ${errorMessage(e)}\n` } };
    }
  }

  private async switchTo(ota: OtaChild, version: string): Promise<void> {
    const answer = await ota.requestSwitch(version);
    if (!answer.ok)
      this.deps.logger.warn('the supervisor refused the bundled agent release', {
        version,
        reason: answer.reason,
      });
  }
}
