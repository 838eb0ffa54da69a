// Crash durability: a manager killed with SIGKILL in the middle of a burst of creates keeps every service it acknowledged, with an intact SQLite file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { connectClient, type RpcClient } from '../../manager/cli/rpc-client.js';
import { loadIdentity } from '../../manager/cli/connection.js';
import { errorMessage, isFleetError } from '../../shared/errors.js';
import {
  cliJson,
  startManager,
  stopProc,
  tempDir,
  type ManagerProc,
  type ServiceJson,
} from '../helpers/cluster.js';

const BURST = 200;
const CONCURRENCY = 10;
/** Acknowledged creates after which the manager is killed, one trial each. */
const KILL_AFTER = [20, 80, 140];

interface BurstOutcome {
  acknowledged: string[];
  /** Failures other than the lost connection the kill causes. */
  unexpected: string[];
}

/**
 * Sends BURST creates over CONCURRENCY connections (as that many CLIs would) and SIGKILLs the
 * manager as soon as `killAfter` of them are acknowledged; resolves once every worker has stopped.
 */
async function burstAndKill(
  m: ManagerProc,
  prefix: string,
  killAfter: number,
): Promise<BurstOutcome> {
  const identity = await loadIdentity(m.identity);
  const clients: RpcClient[] = [];
  for (let i = 0; i < CONCURRENCY; i++) {
    clients.push(await connectClient({ hosts: [m.address], identity, timeoutMs: 10_000 }));
  }
  const exited = once(m.proc, 'exit');
  const acknowledged: string[] = [];
  const unexpected: string[] = [];
  let next = 0;
  let killed = false;
  const worker = async (c: RpcClient): Promise<void> => {
    while (next < BURST) {
      const name = `${prefix}-${String(next++).padStart(3, '0')}`;
      try {
        await c.call('service.create', { spec: { name, task: { image: 'fleet-test/none:1' } } });
      } catch (e) {
        const lostManager = killed && isFleetError(e) && e.code === 'unavailable';
        if (!lostManager) unexpected.push(`${name}: ${errorMessage(e)}`);
        return;
      }
      acknowledged.push(name);
      if (!killed && acknowledged.length >= killAfter) {
        killed = true;
        m.proc.kill('SIGKILL');
      }
    }
  };
  try {
    await Promise.all(clients.map(worker));
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  }
  assert.ok(
    killed,
    `the burst ended before ${killAfter} creates were acknowledged: ${unexpected.join('; ')}`,
  );
  await exited;
  return { acknowledged, unexpected };
}

function integrityCheck(dataDir: string): string {
  const db = new Database(path.join(dataDir, 'state.db'), { readonly: true, fileMustExist: true });
  try {
    return String(db.pragma('integrity_check', { simple: true }));
  } finally {
    db.close();
  }
}

test(
  'a manager killed with SIGKILL mid-burst keeps every acknowledged service and an intact database, three times over',
  { timeout: 90_000 },
  async (t) => {
    const dataDir = tempDir('durability');
    let manager = await startManager({ dataDir });
    const port = Number(manager.address.split(':')[1]);
    t.after(async () => {
      await stopProc(manager.proc);
      await fs.rm(dataDir, { recursive: true, force: true });
      await fs.rm(manager.log, { force: true });
    });

    const acknowledged: string[] = [];
    for (const [trial, killAfter] of KILL_AFTER.entries()) {
      const outcome = await burstAndKill(manager, `t${trial}`, killAfter);
      assert.deepEqual(outcome.unexpected, [], `trial ${trial}: creates failed before the kill`);
      assert.ok(outcome.acknowledged.length >= killAfter);
      acknowledged.push(...outcome.acknowledged);

      manager = await startManager({ dataDir, port });
      const services = await cliJson<ServiceJson[]>(manager, ['service', 'ls']);
      const names = new Set(services.map((s) => s.name));
      const lost = acknowledged.filter((n) => !names.has(n));
      assert.deepEqual(lost, [], `trial ${trial}: acknowledged services missing after the restart`);
      assert.equal(integrityCheck(dataDir), 'ok', `trial ${trial}: integrity_check`);
      t.diagnostic(
        `trial ${trial}: ${outcome.acknowledged.length} acknowledged, ${names.size} services`,
      );
    }
  },
);
