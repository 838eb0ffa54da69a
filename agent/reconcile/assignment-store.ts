// The last accepted assignment: kept in memory, persisted atomically, written again while the disk is full.
import path from 'node:path';
import { promises as fs } from 'node:fs';
import { readJsonFile, removeStaleTemps, writeFileAtomic } from '../../shared/atomic-file.js';
import type { Clock, TimerHandle } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import { assignmentSchema, type Assignment } from '../../shared/protocol.js';
import { withBundle } from '../bundle/overlay.js';
import { readBundleState, writeBundleState, type BundleState } from '../bundle/state.js';

/** While the disk is full, the assignment is written again this often until it fits. */
export const DISK_RETRY_MS = 2_000;

export interface AssignmentStoreDeps {
  dataDir: string;
  nodeId: string;
  clock: Clock;
  logger: Logger;
  /** Called when a retried write succeeds after the disk was full: the flag has cleared. */
  onDiskSpaceBack(): void;
}

/** Owns the assignment the agent runs and its file; one write at a time, in arrival order. */
export class AssignmentStore {
  private assignment: Assignment | null = null;
  private full = false;
  private retryTimer: TimerHandle | undefined;
  private closed = false;
  private persisting: Promise<void> = Promise.resolve();
  /** The offline bundles applied here; its pending one runs beside the assignment until adopted. */
  private bundle: BundleState | undefined;
  /**
   * A planted bug for soak tests only (FLEET_TEST_BUG=forget-task-after-restart): an agent that
   * found a saved assignment at start ignores one task of every assignment from then on.
   */
  private plantedBug = false;

  constructor(private readonly deps: AssignmentStoreDeps) {}

  /** The assignment running now (with a bundle not yet adopted); null before the first one. */
  get current(): Assignment | null {
    const a = withBundle(this.assignment, this.bundle?.pending, this.deps.nodeId);
    return this.plantedBug ? forgetFirstTask(a) : a;
  }

  /** The last assignment accepted from a manager, without a bundle: what deltas apply to. */
  get accepted(): Assignment | null {
    return this.assignment;
  }

  /** The bundle applied here that no manager adopted yet, reported until one does. */
  get pendingBundle(): BundleState['pending'] {
    return this.bundle?.pending;
  }

  /** A bundle applied while the agent runs (its state is already saved). */
  takeBundle(state: BundleState): void {
    this.bundle = state;
  }

  /** Whether the last write failed for lack of disk space (reported to the manager). */
  get diskFull(): boolean {
    return this.full;
  }

  /** The ids of the tasks the current assignment wants. */
  desiredIds(): Set<string> {
    return new Set((this.assignment?.tasks ?? []).map((t) => t.id));
  }

  /** Reads the saved assignment back, if there is a readable one for this node. */
  async load(): Promise<void> {
    const { logger, nodeId } = this.deps;
    // A power cut in the middle of a write leaves its temp file; nothing else ever removes it.
    await removeStaleTemps(this.file()).catch(() => 0);
    const saved = await readJsonFile(this.file()).catch((e: unknown) => {
      logger.warn('could not read the saved assignment; starting empty', { error: String(e) });
      return undefined;
    });
    this.bundle = await readBundleState(this.deps.dataDir).catch((e: unknown) => {
      logger.warn('could not read the bundle state; running no bundle', { error: String(e) });
      return undefined;
    });
    if (saved === undefined) return;
    this.plantedBug = process.env.FLEET_TEST_BUG === 'forget-task-after-restart';
    const d = assignmentSchema.safeParse(saved);
    if (d.success && d.data.nodeId === nodeId) this.assignment = d.data;
    else logger.warn('ignoring an unreadable saved assignment');
  }

  /**
   * Takes a newer assignment and saves it; resolves once it is written (or, the disk failing,
   * once the failure is recorded). False, and nothing changed, when it is older than the current.
   */
  async accept(a: Assignment): Promise<boolean> {
    if (isOlderAssignment(a, this.assignment)) {
      this.deps.logger.warn('ignored an older assignment', {
        version: a.version,
        running: this.assignment?.version,
      });
      return false;
    }
    this.assignment = a;
    await this.enqueue(a);
    await this.settleBundle(a);
    return true;
  }

  /** An assignment that names the pending bundle adopted it: from now on it alone counts. */
  private async settleBundle(a: Assignment): Promise<void> {
    const state = this.bundle;
    if (!state?.pending || a.adoptedBundle !== state.pending.signed.manifest.id) return;
    const { pending: _done, ...settled } = state;
    this.bundle = settled;
    this.deps.logger.info('the managers adopted the offline bundle', { bundle: state.applied.id });
    await writeBundleState(this.deps.dataDir, settled).catch((e: unknown) => {
      this.deps.logger.warn('could not record the adopted bundle', { error: String(e) });
    });
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) this.deps.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private file(): string {
    return path.join(this.deps.dataDir, 'assignment.json');
  }

  /** The file must end up holding the newest assignment: writes queue behind each other. */
  private enqueue(a: Assignment): Promise<void> {
    const write = this.persisting.then(() => this.persist(a));
    this.persisting = write;
    return write;
  }

  private async persist(a: Assignment): Promise<void> {
    const { logger } = this.deps;
    try {
      await fs.mkdir(this.deps.dataDir, { recursive: true });
      await writeFileAtomic(this.file(), JSON.stringify(a));
      if (this.full) logger.info('disk space is back; the assignment is saved');
      this.full = false;
    } catch (e) {
      const full = /ENOSPC|EDQUOT/.test(String(e));
      // Retries while the disk stays full would repeat the same line every few seconds.
      if (!(full && this.full)) {
        logger.error('could not persist the assignment; running it from memory', {
          error: String(e),
        });
      }
      this.full = full;
      if (full) this.retryLater();
    }
  }

  /** Writes the newest assignment again later, so the flag clears once space returns. */
  private retryLater(): void {
    if (this.retryTimer || this.closed) return;
    this.retryTimer = this.deps.clock.setTimeout(() => {
      this.retryTimer = undefined;
      const a = this.assignment;
      if (!a || this.closed) return;
      // A cleared flag reaches the manager with the next status, which a pass sends.
      void this.enqueue(a).then(() => {
        if (!this.full) this.deps.onDiskSpaceBack();
      });
    }, DISK_RETRY_MS);
  }
}

/**
 * Versions are the cluster's log index and only grow: a lower one comes from a manager that used
 * to lead and still holds an old retained assignment, and must not undo the newer one running.
 */
export function isOlderAssignment(next: Assignment, running: Assignment | null): boolean {
  return running !== null && next.version < running.version;
}

/** The planted bug's effect: the task with the lowest id is left out. */
function forgetFirstTask(a: Assignment | null): Assignment | null {
  if (!a || a.tasks.length === 0) return a;
  const first = a.tasks.reduce((x, y) => (y.id < x.id ? y : x));
  return { ...a, tasks: a.tasks.filter((t) => t !== first) };
}
