// Handing a bundle to the agent that runs on a data dir: a request file in its inbox, answered by a result file beside it.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { readJsonFile, writeFileAtomic } from '../../shared/atomic-file.js';
import type { Clock } from '../../shared/clock.js';
import { bundleDir } from './state.js';

export const inboxDir = (dataDir: string): string => path.join(bundleDir(dataDir), 'inbox');
export const pidFile = (dataDir: string): string => path.join(bundleDir(dataDir), 'agent.pid');
export const REQUEST_SUFFIX = '.request';
export const RESULT_SUFFIX = '.result';
/** How long `bundle apply` waits for the running agent (loading big images takes a while). */
const ANSWER_TIMEOUT_MS = 15 * 60_000;
const POLL_MS = 250;
/** A request the agent has not taken by then is withdrawn: no agent watches the inbox. */
const PICKUP_MS = 10_000;

export const requestSchema = z.object({ file: z.string().min(1).max(4096) });
/** The outcome as `bundle apply` prints it: 0 applied, 3 refused, 1 failed. */
export const resultSchema = z.object({ code: z.number().int(), text: z.string() });
export type ApplyResult = z.infer<typeof resultSchema>;

/** Whether an agent runs on the data dir now (its pid file names a live process). */
export async function runningAgent(dataDir: string): Promise<number | null> {
  const text = await fs.readFile(pidFile(dataDir), 'utf8').catch(() => '');
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM' ? pid : null;
  }
}

/**
 * Asks the running agent to apply the bundle at `file` (by its absolute path: nothing is
 * copied) and waits for its answer. Null when no agent runs on the data dir.
 */
export async function handOver(
  file: string,
  dataDir: string,
  clock: Clock,
): Promise<ApplyResult | null> {
  if ((await runningAgent(dataDir)) === null) return null;
  const id = randomBytes(6).toString('hex');
  const request = path.join(inboxDir(dataDir), id + REQUEST_SUFFIX);
  const result = path.join(inboxDir(dataDir), id + RESULT_SUFFIX);
  await writeFileAtomic(request, JSON.stringify({ file: path.resolve(file) }));
  const start = clock.now();
  while (clock.now() < start + ANSWER_TIMEOUT_MS) {
    const r = resultSchema.safeParse(await readJsonFile(result).catch(() => undefined));
    if (r.success) {
      await fs.rm(result, { force: true });
      return r.data;
    }
    // The agent takes a request (removes it) within a scan or two; a pid file left by an agent
    // that died, naming some other process now, must not make this wait for nobody.
    if (clock.now() > start + PICKUP_MS && (await exists(request))) {
      await fs.rm(request, { force: true });
      return null;
    }
    await new Promise<void>((resolve) => clock.setTimeout(resolve, POLL_MS));
  }
  await fs.rm(request, { force: true });
  return { code: 1, text: 'bundle not applied: the running agent did not answer in time\n' };
}

const exists = (file: string): Promise<boolean> =>
  fs.stat(file).then(
    () => true,
    () => false,
  );
