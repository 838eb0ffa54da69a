// A TCP relay between an agent and its manager that counts the bytes and segments both ways (TLS included).
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import mqttPacket from 'mqtt-packet';

/** Bytes seen by the relay in one direction, and how many reads carried them. */
export interface Flow {
  bytes: number;
  reads: number;
  /** The largest single read (one TLS record or MQTT packet on loopback). */
  maxRead: number;
}

export interface LinkCounts {
  /** Agent to manager. */
  up: Flow;
  /** Manager to agent. */
  down: Flow;
  /** TCP segments on the agent's side, both ways, pure ACKs included (from `ss -ti`); null when unknown. */
  segments: number | null;
  /** Connections the agent opened through the relay so far. */
  accepted: number;
  /** With plain MQTT: bytes and packets per kind ("publish fleet/v1/nodes/+/hb up", "pingreq up"). */
  kinds: Map<string, { packets: number; bytes: number }>;
}

export interface CountingLink {
  /** HOST:PORT to give the agent as its manager. */
  readonly address: string;
  /** A copy of the counts so far (segments summed over the open connections). */
  counts(): LinkCounts;
  close(): Promise<void>;
}

/**
 * Listens on host and relays each connection to target byte for byte. With `parseMqtt` (a manager
 * started with --insecure) it also decodes the MQTT packets, to say where the bytes go.
 */
export async function startCountingLink(
  host: string,
  target: string,
  opts: { parseMqtt?: boolean } = {},
): Promise<CountingLink> {
  const at = target.lastIndexOf(':');
  const to = { host: target.slice(0, at), port: Number(target.slice(at + 1)) };
  const up: Flow = { bytes: 0, reads: 0, maxRead: 0 };
  const down: Flow = { bytes: 0, reads: 0, maxRead: 0 };
  const kinds = new Map<string, { packets: number; bytes: number }>();
  /** Segments of connections that closed, kept so totals never go back. */
  let closedSegments = 0;
  /** The open connections facing the agent, with their segment count when last read. */
  const open = new Map<net.Socket, number>();
  let accepted = 0;
  const server = net.createServer((inbound) => {
    accepted++;
    const outbound = net.connect(to);
    open.set(inbound, 0);
    const end = (): void => {
      if (open.has(inbound)) closedSegments += open.get(inbound) ?? 0;
      open.delete(inbound);
      inbound.destroy();
      outbound.destroy();
    };
    for (const s of [inbound, outbound]) {
      s.on('error', end);
      s.on('close', end);
    }
    const count = (flow: Flow, dir: string, parser: ReturnType<typeof parserFor> | null) => {
      return (chunk: Buffer): void => {
        flow.bytes += chunk.length;
        flow.reads++;
        flow.maxRead = Math.max(flow.maxRead, chunk.length);
        parser?.(chunk, dir);
      };
    };
    const parse = opts.parseMqtt === true;
    inbound.on('data', count(up, 'up', parse ? parserFor(kinds) : null));
    outbound.on('data', count(down, 'down', parse ? parserFor(kinds) : null));
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  return {
    address: `${host}:${port}`,
    counts() {
      const byPeer = segmentsOf(port);
      let live = 0;
      for (const [s, last] of open) {
        const now = byPeer?.get(s.remotePort ?? -1) ?? last;
        open.set(s, now);
        live += now;
      }
      return {
        up: { ...up },
        down: { ...down },
        segments: byPeer === null ? null : closedSegments + live,
        accepted,
        kinds: new Map([...kinds].map(([k, v]) => [k, { ...v }])),
      };
    },
    close() {
      for (const s of open.keys()) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A decoder of one direction's MQTT stream that adds each packet to kinds. */
function parserFor(
  kinds: Map<string, { packets: number; bytes: number }>,
): (chunk: Buffer, dir: string) => void {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  let dirNow = '';
  parser.on('packet', (p: mqttPacket.Packet) => {
    const topic = p.cmd === 'publish' ? ` ${p.topic.replace(/\/nodes\/[^/]+\//, '/nodes/+/')}` : '';
    const key = `${p.cmd}${topic} ${dirNow}`;
    const k = kinds.get(key) ?? { packets: 0, bytes: 0 };
    k.packets++;
    k.bytes += mqttPacket.generate(p).length;
    kinds.set(key, k);
  });
  parser.on('error', () => undefined);
  return (chunk, dir) => {
    dirNow = dir;
    parser.parse(chunk);
  };
}

/**
 * Segments in and out of the relay's sockets facing the agent (local port `port`) by the agent's
 * port, as the kernel counts them: every data segment and every pure ACK. Null when ss cannot say.
 */
function segmentsOf(port: number): Map<number, number> | null {
  try {
    const out = execFileSync('ss', ['-tinH', 'state', 'established', `( sport = :${port} )`], {
      encoding: 'utf8',
    });
    const byPeer = new Map<number, number>();
    const re = /:\d+\s+\S+:(\d+)\s*\n[^\n]*?segs_out:(\d+) segs_in:(\d+)/g;
    for (const m of out.matchAll(re)) byPeer.set(Number(m[1]), Number(m[2]) + Number(m[3]));
    return byPeer;
  } catch {
    return null;
  }
}
