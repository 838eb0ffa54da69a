// Real manager: a 200-task node gets a one-task change as a small delta, and after a lost delta asks for and gets the full set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { AssignmentStore } from '../../agent/reconcile/assignment-store.js';
import {
  takeAssignmentDelta,
  takeFullAssignment,
  type AssignmentIntake,
} from '../../agent/reconcile/assignment-intake.js';
import { ASSIGNMENT_DELTAS, assignmentDeltaTopic } from '../../shared/assignment-delta.js';
import { systemClock } from '../../shared/clock.js';
import { joinCluster } from '../../shared/join-client.js';
import { createLogger } from '../../shared/log.js';
import { encode, topics, type StatusMessage } from '../../shared/protocol.js';
import { cli, cliJson, cliOk, startManager, stopProc, tempDir } from '../helpers/cluster.js';
import type { TaskJson } from '../helpers/cluster.js';
import { connectNode } from '../helpers/sim-agents.js';
import { waitFor } from '../helpers/wait.js';

/** One board as the agent takes assignments: the real intake and store, over its own MQTT session. */
class Board {
  readonly fulls: number[] = [];
  readonly deltas: number[] = [];
  dropNextDelta = false;
  readonly store: AssignmentStore;
  private readonly intake: AssignmentIntake;
  private seq = 0;

  constructor(
    readonly client: MqttClient,
    readonly nodeId: string,
    dataDir: string,
  ) {
    const logger = createLogger('board', { level: 'error' });
    this.store = new AssignmentStore({
      dataDir,
      nodeId,
      clock: systemClock,
      logger,
      onDiskSpaceBack: () => undefined,
    });
    this.intake = {
      nodeId,
      logger,
      running: () => this.store.accepted,
      take: async (a) => void (await this.store.accept(a)),
      askFull: () => void client.subscribe(topics.assignments(nodeId), { qos: 1 }),
    };
    client.on('message', (topic, payload) => {
      if (topic === topics.assignments(nodeId)) {
        this.fulls.push(payload.length);
        void takeFullAssignment(this.intake, payload);
      } else if (topic === assignmentDeltaTopic(nodeId)) {
        this.deltas.push(payload.length);
        if (this.dropNextDelta) this.dropNextDelta = false;
        else void takeAssignmentDelta(this.intake, payload);
      }
    });
  }

  async start(): Promise<void> {
    await this.client.subscribeAsync(
      [topics.assignments(this.nodeId), assignmentDeltaTopic(this.nodeId)],
      { qos: 1 },
    );
    const status: StatusMessage = {
      v: 1,
      ts: Date.now(),
      assignmentVersion: 0,
      tasks: [],
      node: {
        resources: { cpus: 4, memoryBytes: 4 * 1024 ** 3 },
        platform: { os: 'linux', arch: 'arm64' },
        runtime: 'fake',
        address: '127.44.9.1',
        agentVersion: 'test',
        diskFull: false,
        assignmentDeltas: ASSIGNMENT_DELTAS,
      },
    };
    await this.client.publishAsync(topics.status(this.nodeId), encode(status), { qos: 1 });
  }

  beat(): void {
    const hb = encode({ v: 1, seq: this.seq++, ts: Date.now() });
    this.client.publish(topics.heartbeat(this.nodeId), hb, { qos: 0 });
  }

  taskIds(): string[] {
    return (this.store.accepted?.tasks ?? []).map((t) => t.id).sort();
  }
}

test(
  'a one-task change reaches a 200-task node as a small delta; a lost delta ends in the full set',
  { timeout: 120_000 },
  async (t) => {
    const m = await startManager({ host: '127.0.44.2' });
    const dataDir = tempDir('delta-board');
    const identity = await joinCluster({
      managers: [m.address],
      token: m.workerToken,
      name: 'delta-board',
      address: '127.44.9.1',
      platform: { os: 'linux', arch: 'arm64' },
      labels: {},
      timeoutMs: 20_000,
    });
    const client = await connectNode(m.address, identity);
    const board = new Board(client, identity.id, dataDir);
    const beats = setInterval(() => board.beat(), 500);
    t.after(async () => {
      clearInterval(beats);
      board.store.close();
      await client.endAsync(true).catch(() => undefined);
      await cli(m, ['service', 'rm', 'many']);
      await stopProc(m.proc);
      await fs.rm(dataDir, { recursive: true, force: true });
    });
    await board.start();
    const ids = async (): Promise<string[]> =>
      (await cliJson<TaskJson[]>(m, ['service', 'ps', 'many']))
        .filter((x) => x.desiredState === 'running')
        .map((x) => x.id)
        .sort();
    const holds = (n: number) => () => (board.taskIds().length === n ? true : null);

    await cliOk(m, [
      'service',
      'create',
      '--detach',
      '--name',
      'many',
      '--replicas',
      '200',
      'fake/x:1',
    ]);
    await waitFor(holds(200), { what: 'the 200-task assignment', timeoutMs: 30_000 });
    // What a full set of 200 tasks weighs on the wire (the first full one was empty).
    const fullBytes = encode(board.store.accepted).length;

    const deltasBefore = board.deltas.length;
    await cliOk(m, ['service', 'scale', '--detach', 'many=201']);
    await waitFor(holds(201), { what: 'the 201st task', timeoutMs: 30_000 });
    const delta = board.deltas.slice(deltasBefore);
    assert.ok(delta.length >= 1, 'the change came as a delta');
    const deltaBytes = Math.max(...delta);
    assert.ok(
      deltaBytes * 20 < fullBytes,
      `a one-task delta (${deltaBytes} bytes) is far smaller than the full set (${fullBytes} bytes)`,
    );
    t.diagnostic(`one-task change: delta ${deltaBytes} bytes, full set ${fullBytes} bytes`);
    assert.deepEqual(board.taskIds(), await ids());

    // A delta lost on the way: the next one does not fit, so the board asks for the full set.
    const fullsBefore = board.fulls.length;
    board.dropNextDelta = true;
    await cliOk(m, ['service', 'scale', '--detach', 'many=202']);
    await waitFor(() => (board.dropNextDelta ? null : true), {
      what: 'the dropped delta',
      timeoutMs: 30_000,
    });
    await cliOk(m, ['service', 'scale', '--detach', 'many=150']);
    await waitFor(holds(150), { what: 'the full set after the mismatch', timeoutMs: 30_000 });
    assert.ok(board.fulls.length > fullsBefore, 'the board asked for and got the full set');
    assert.deepEqual(board.taskIds(), await ids());
    const saved = JSON.parse(await fs.readFile(path.join(dataDir, 'assignment.json'), 'utf8')) as {
      tasks: unknown[];
    };
    assert.equal(saved.tasks.length, 150, 'the persisted assignment is a full set');
  },
);
