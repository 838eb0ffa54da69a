// Heartbeat probes for the control-plane benchmark: joined nodes that time each heartbeat until the broker acks it.
import type { MqttClient } from 'mqtt';
import { joinCluster } from '../../shared/join-client.js';
import { makeConnectProof } from '../../shared/identity.js';
import { encode, topics, type StatusMessage } from '../../shared/protocol.js';
import { connectMqttAsync } from '../../shared/transport.js';

/**
 * A probe is a node like any other, except that it sends its heartbeats at QoS 1. The manager's
 * broker writes the PUBACK when its event loop reaches the PUBLISH, and runs the heartbeat
 * handler in the same loop turn, so publish-to-PUBACK is the time a heartbeat waits in and is
 * parsed by the manager, plus one loopback round trip (over TLS, like an agent's). The probes
 * run in the benchmark's own, otherwise idle, process so the simulated agents' busy event loop
 * does not pollute the figures.
 */
export class Probe {
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;
  readonly samples: number[] = [];
  lost = 0;

  private constructor(
    private readonly client: MqttClient,
    readonly nodeId: string,
  ) {}

  static async start(
    manager: string,
    token: string,
    index: number,
    address = '127.0.0.3',
  ): Promise<Probe> {
    const identity = await joinCluster({
      managers: [manager],
      token,
      name: `probe-${index}`,
      address,
      platform: { os: 'linux', arch: 'arm64' },
      labels: { probe: 'yes' },
      timeoutMs: 30_000,
    });
    const transport = { insecure: false, pin: { rootPub: identity.rootPub } };
    const client = await connectMqttAsync(manager, transport, {
      protocolVersion: 4,
      clientId: identity.id,
      username: identity.id,
      password: makeConnectProof(identity, identity.id),
      clean: true,
      keepalive: 30,
      reconnectPeriod: 0,
      connectTimeout: 30_000,
    });
    client.on('error', () => undefined);
    const status: StatusMessage = {
      v: 1,
      ts: Date.now(),
      assignmentVersion: 0,
      tasks: [],
      node: {
        resources: { cpus: 1, memoryBytes: 1024 ** 3 },
        platform: { os: 'linux', arch: 'arm64' },
        runtime: 'fake',
        address,
        agentVersion: 'probe',
        diskFull: false,
      },
    };
    await client.publishAsync(topics.status(identity.id), encode(status), { qos: 1 });
    return new Probe(client, identity.id);
  }

  /** Heartbeats every periodMs, the first after offsetMs (probes spread over one period). */
  run(periodMs: number, offsetMs: number): void {
    const beat = (): void => {
      const t0 = performance.now();
      const payload = encode({ v: 1, seq: this.seq++, ts: Date.now() });
      this.client.publish(topics.heartbeat(this.nodeId), payload, { qos: 1 }, (err) => {
        if (err) this.lost++;
        else this.samples.push(performance.now() - t0);
      });
      this.timer = setTimeout(beat, periodMs);
    };
    this.timer = setTimeout(beat, offsetMs);
  }

  reset(): void {
    this.samples.length = 0;
    this.lost = 0;
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await this.client.endAsync(true).catch(() => undefined);
  }
}
