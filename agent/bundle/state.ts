// The board's bundle records: the newest bundle applied (for downgrade refusal), the one not yet adopted, and the node's name and labels.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { readJsonFile, writeFileAtomic } from '../../shared/atomic-file.js';
import { signedBundleSchema } from '../../shared/bundle/manifest.js';
import { assignedTaskSchema } from '../../shared/protocol.js';

export const bundleDir = (dataDir: string): string => path.join(dataDir, 'bundle');
const stateFile = (dataDir: string): string => path.join(bundleDir(dataDir), 'state.json');
const boardFile = (dataDir: string): string => path.join(bundleDir(dataDir), 'board.json');

/** A bundle applied while no manager adopted it yet: the tasks it runs beside the assignment. */
export const pendingBundleSchema = z.object({
  signed: signedBundleSchema,
  tasks: z.array(assignedTaskSchema),
  /** Services the bundle brings: the assignment's older tasks of these give way to it. */
  serviceIds: z.array(z.string()),
});
export type PendingBundle = z.infer<typeof pendingBundleSchema>;

export const bundleStateSchema = z.object({
  v: z.literal(1),
  applied: z.object({ id: z.string(), sequence: z.number().int(), appliedAt: z.number() }),
  pending: pendingBundleSchema.optional(),
});
export type BundleState = z.infer<typeof bundleStateSchema>;

/** The saved state; undefined when no bundle was ever applied. A damaged file is an error. */
export async function readBundleState(dataDir: string): Promise<BundleState | undefined> {
  const raw = await readJsonFile(stateFile(dataDir));
  if (raw === undefined) return undefined;
  const r = bundleStateSchema.safeParse(raw);
  if (!r.success) throw new Error(`the bundle state ${stateFile(dataDir)} is damaged`);
  return r.data;
}

export async function writeBundleState(dataDir: string, s: BundleState): Promise<void> {
  await fs.mkdir(bundleDir(dataDir), { recursive: true, mode: 0o700 });
  await writeFileAtomic(stateFile(dataDir), JSON.stringify(s) + '\n');
}

/** The node's name and labels as the agent was started with them: what bundle targets match. */
export const boardFactsSchema = z.object({
  name: z.string().max(128).optional(),
  labels: z.record(z.string(), z.string()).default({}),
});
export type SavedBoardFacts = z.infer<typeof boardFactsSchema>;

export async function readSavedBoardFacts(dataDir: string): Promise<SavedBoardFacts> {
  const r = boardFactsSchema.safeParse((await readJsonFile(boardFile(dataDir))) ?? {});
  return r.success ? r.data : { labels: {} };
}

/** Written at every agent start; unchanged facts are not written again. */
export async function saveBoardFacts(dataDir: string, facts: SavedBoardFacts): Promise<void> {
  const text = JSON.stringify(facts) + '\n';
  const old = await readJsonFile(boardFile(dataDir)).catch(() => undefined);
  if (old !== undefined && JSON.stringify(old) + '\n' === text) return;
  await fs.mkdir(bundleDir(dataDir), { recursive: true, mode: 0o700 });
  await writeFileAtomic(boardFile(dataDir), text);
}

/**
 * Whether the running agent release came from the pending bundle. A board with no manager
 * cannot show it reaches one, so its agent's start (the self-check passed, the runtime listed)
 * is what commits the release; reaching a manager stays the test for every other release.
 */
export async function bundleBroughtAgent(dataDir: string, version: string): Promise<boolean> {
  const state = await readBundleState(dataDir).catch(() => undefined);
  return state?.pending?.signed.manifest.agent?.manifest.version === version;
}
