// Simulated agents that follow agentRelease in their assignments: real joins, heartbeats and statuses over MQTT, a version switch or a reported fallback.
import type { MqttClient } from 'mqtt';
import { systemClock } from '../../shared/clock.js';
import { BlobClient } from '../../shared/images/blob-client.js';
import { CHUNK_BYTES } from '../../shared/images/blob-protocol.js';
import { joinCluster } from '../../shared/join-client.js';
import type { Identity } from '../../shared/identity.js';
import { verifyManifest } from '../../shared/ota/release-record.js';
import type { UpgradeReport } from '../../shared/ota/upgrade-protocol.js';
import {
  assignmentSchema,
  decode,
  encode,
  topics,
  type StatusMessage,
} from '../../shared/protocol.js';
import { connectNode } from './sim-agents.js';

/** One agentRelease an agent acted on: when it heard it, and when it switched or fell back. */
export interface UpgradeEvent {
  node: string;
  version: string;
  rollout: string | undefined;
  askedAt: number;
  endedAt?: number;
  outcome?: 'switched' | 'failed';
}

class SimAgent {
  version: string;
  upgrade: UpgradeReport = { state: 'idle' };
  /** Fall back with this reason from the versions named instead of switching. */
  readonly failing = new Map<string, string>();
  private busy: string | undefined;
  private readonly tried = new Set<string>();
  private hb: NodeJS.Timeout | undefined;
  private assignmentVersion = 0;
  private readonly blobs: BlobClient;
  /** Payload bytes of the blob channel's answers this agent received (the bundle and the frames' headers). */
  blobBytes = 0;

  constructor(
    readonly name: string,
    readonly identity: Identity,
    readonly address: string,
    private readonly client: MqttClient,
    private readonly fleet: UpgradingAgents,
    version: string,
  ) {
    this.version = version;
    this.blobs = new BlobClient(
      {
        clientId: identity.id,
        send: (topic, frame) => client.publishAsync(topic, frame, { qos: 1 }).then(() => undefined),
      },
      systemClock,
      60_000,
    );
  }

  async start(): Promise<void> {
    this.client.on('error', () => undefined);
    this.client.on('message', (topic, payload) => {
      if (topic !== this.blobs.responseTopic) return this.onAssignment(payload);
      this.blobBytes += payload.length;
      this.blobs.deliver(payload);
    });
    await this.client.subscribeAsync(topics.assignments(this.identity.id), { qos: 1 });
    if (this.fleet.download) await this.client.subscribeAsync(this.blobs.responseTopic, { qos: 1 });
    const beat = (seq: number): void => {
      this.client.publish(
        topics.heartbeat(this.identity.id),
        encode({ v: 1, seq, ts: Date.now() }),
        { qos: 0 },
      );
      this.hb = setTimeout(() => beat(seq + 1), 300);
    };
    beat(0);
    this.sendStatus();
  }

  async stop(): Promise<void> {
    clearTimeout(this.hb);
    await this.client.endAsync(true).catch(() => undefined);
  }

  sendStatus(): void {
    const msg: StatusMessage = {
      v: 1,
      ts: Date.now(),
      assignmentVersion: this.assignmentVersion,
      tasks: [],
      node: {
        resources: { cpus: 4, memoryBytes: 4 * 1024 ** 3 },
        platform: { os: 'linux', arch: 'arm64' },
        runtime: 'fake',
        address: this.address,
        agentVersion: this.version,
        protocolVersion: 1,
        diskFull: false,
        nodeVersion: process.versions.node,
        upgrade: this.upgrade,
      },
    };
    this.client.publish(topics.status(this.identity.id), encode(msg), { qos: 1 });
  }

  /** Acts as the contract says: a signed release of another version, not tried for this rollout. */
  private onAssignment(payload: Buffer): void {
    if (payload.length === 0) return;
    const d = decode(assignmentSchema, payload);
    if (!d.ok) return;
    this.assignmentVersion = d.value.version;
    const rel = d.value.agentRelease;
    if (!rel || rel.version === this.version || this.busy) return;
    const key = `${rel.rollout ?? ''}/${rel.version}`;
    if (this.tried.has(key)) return;
    const { signature, rollout, ...manifest } = rel;
    if (!verifyManifest(manifest, signature, this.identity.rootPub)) return;
    this.tried.add(key);
    this.busy = rel.version;
    const event: UpgradeEvent = {
      node: this.name,
      version: rel.version,
      rollout,
      askedAt: Date.now(),
    };
    this.fleet.events.push(event);
    this.upgrade = { state: 'downloading', version: rel.version, at: Date.now() };
    this.sendStatus();
    const fetched = this.fleet.download
      ? this.fetch(`sha256:${manifest.sha256}`, manifest.size)
      : Promise.resolve(undefined);
    void fetched.then(
      (failure) => {
        if (failure) this.failing.set(rel.version, failure);
        setTimeout(() => this.finish(event), this.fleet.switchMs);
      },
      () => undefined,
    );
  }

  /** Fetches the bundle over the blob channel as an agent does (chunk by chunk); a failure's reason. */
  private async fetch(digest: string, size: number): Promise<string | undefined> {
    try {
      await this.blobs.chunks(digest);
      for (let offset = 0; offset < size;) {
        const { bytes } = await this.blobs.get(
          digest,
          offset,
          Math.min(CHUNK_BYTES, size - offset),
        );
        if (bytes.length === 0) return `the manager sent no bytes at ${offset}`;
        offset += bytes.length;
      }
      return undefined;
    } catch (e) {
      return `download failed: ${e instanceof Error ? e.message : String(e)}`;
    }
  }

  private finish(event: UpgradeEvent): void {
    this.busy = undefined;
    event.endedAt = Date.now();
    const reason = this.failing.get(event.version);
    if (reason) {
      event.outcome = 'failed';
      this.upgrade = { state: 'failed', version: event.version, reason, at: Date.now() };
    } else {
      event.outcome = 'switched';
      this.version = event.version;
      this.upgrade = { state: 'idle' };
    }
    this.sendStatus();
  }
}

/** A set of simulated agents and what they did. */
export class UpgradingAgents {
  readonly events: UpgradeEvent[] = [];
  readonly agents: SimAgent[] = [];

  /**
   * switchMs: how long the fake restart takes. download: fetch the release's bundle over the blob
   * channel before switching, as a real agent does (counted in each agent's blobBytes).
   */
  constructor(
    readonly switchMs: number,
    readonly download = false,
  ) {}

  agent(name: string): SimAgent {
    const a = this.agents.find((x) => x.name === name);
    if (!a) throw new Error(`no simulated agent ${name}`);
    return a;
  }

  /** Joins and starts one agent per name, each advertising its own loopback address. */
  async start(
    manager: string,
    token: string,
    nodes: { name: string; address: string }[],
    version: string,
  ): Promise<void> {
    for (const n of nodes) {
      const identity = await joinCluster({
        managers: [manager],
        token,
        name: n.name,
        address: n.address,
        platform: { os: 'linux', arch: 'arm64' },
        labels: {},
        timeoutMs: 20_000,
      });
      const client = await connectNode(manager, identity);
      const agent = new SimAgent(n.name, identity, n.address, client, this, version);
      this.agents.push(agent);
      await agent.start();
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.stop()));
  }
}
