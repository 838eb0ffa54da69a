// The checks a new agent release runs on itself before it may be committed: disk, identity, runtime.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Clock } from '../../shared/clock.js';
import { identitySchema } from '../../shared/identity.js';

export interface SelfCheckOptions {
  dataDir: string;
  /** Asks the task runtime for its info (Runtime.info()); must answer within runtimeMs. */
  runtimeInfo: () => Promise<unknown>;
  clock: Clock;
  runtimeMs?: number;
}

/** Why this release cannot work on this board, or undefined when every check passed. */
export async function selfCheck(o: SelfCheckOptions): Promise<string | undefined> {
  return (
    (await dataDirWritable(o.dataDir)) ??
    (await identityReadable(o.dataDir)) ??
    (await runtimeAnswers(o))
  );
}

async function dataDirWritable(dir: string): Promise<string | undefined> {
  const probe = path.join(dir, `.self-check.${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const fh = await fs.open(probe, 'w', 0o600);
    try {
      await fh.writeFile('ok\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    return undefined;
  } catch (e) {
    return `the data dir ${dir} is not writable: ${(e as Error).message}`;
  } finally {
    await fs.rm(probe, { force: true }).catch(() => undefined);
  }
}

/** A board that has not joined yet has no identity, which is no fault of the release. */
async function identityReadable(dir: string): Promise<string | undefined> {
  const file = path.join(dir, 'identity.json');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return `cannot read ${file}: ${(e as Error).message}`;
  }
  try {
    identitySchema.parse(JSON.parse(text));
    return undefined;
  } catch {
    return `this release cannot read the identity file ${file}`;
  }
}

async function runtimeAnswers(o: SelfCheckOptions): Promise<string | undefined> {
  const ms = o.runtimeMs ?? 20_000;
  let timer: ReturnType<Clock['setTimeout']> | undefined;
  const late = new Promise<string>((resolve) => {
    timer = o.clock.setTimeout(
      () => resolve(`the task runtime did not answer within ${ms} ms`),
      ms,
    );
  });
  const answer = o.runtimeInfo().then(
    () => undefined,
    (e: unknown) =>
      `the task runtime does not answer: ${e instanceof Error ? e.message : String(e)}`,
  );
  try {
    return await Promise.race([answer, late]);
  } finally {
    if (timer) o.clock.clearTimeout(timer);
  }
}
