// A child process that floods the manager from one joined node: fixed rate, bounded count and time.
// Usage: node flooder.js ADDRESS IDENTITY_FILE RATE_PER_SEC SECONDS; prints one JSON line of results.
import type { MqttClient } from 'mqtt';
import { encode, topics } from '../../shared/protocol.js';
import { connectNode, readIdentity } from './sim-agents.js';

export interface FloodResult {
  sent: number;
  elapsedMs: number;
  connections: number;
  /** Milliseconds from the first flood message to the broker closing each connection. */
  closedAfterMs: number[];
}

const TICK_MS = 10;

async function main(): Promise<void> {
  const [address = '', identityFile = '', rateText = '10000', secondsText = '5'] =
    process.argv.slice(2);
  const identity = await readIdentity(identityFile);
  const rate = Number(rateText);
  const durationMs = Number(secondsText) * 1000;
  const maxMessages = rate * Number(secondsText);
  const topic = topics.heartbeat(identity.id);
  const result: FloodResult = { sent: 0, elapsedMs: 0, connections: 0, closedAfterMs: [] };
  const start = Date.now();
  const deadline = start + durationMs;
  let seq = 0;
  while (Date.now() < deadline && result.sent < maxMessages) {
    let client: MqttClient;
    try {
      client = await connectNode(address, identity);
    } catch {
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    result.connections++;
    client.on('error', () => undefined);
    const firstAt = Date.now();
    let open = true;
    client.once('close', () => {
      open = false;
      result.closedAfterMs.push(Date.now() - firstAt);
    });
    // Every tick hands the socket the messages the rate allows so far, until closed or done.
    while (open && Date.now() < deadline && result.sent < maxMessages) {
      const due = Math.min(maxMessages, Math.floor(((Date.now() - start + TICK_MS) * rate) / 1000));
      while (open && result.sent < due) {
        client.publish(topic, encode({ v: 1, seq: seq++, ts: Date.now() }), { qos: 0 });
        result.sent++;
      }
      await new Promise((r) => setTimeout(r, TICK_MS));
    }
    if (open) await client.endAsync(true).catch(() => undefined);
  }
  result.elapsedMs = Date.now() - start;
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`flooder failed: ${String(e)}\n`);
    process.exit(1);
  },
);
