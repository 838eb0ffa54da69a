// Two ways the agent ends an MQTT connection: dropped at once, or retired with a goodbye.
import type { MqttClient } from 'mqtt';
import type { Clock } from '../../shared/clock.js';

/** How long a replaced connection may take to close gracefully before its socket is dropped. */
const RETIRE_TIMEOUT_MS = 2_000;

/** Drops a connection at once, without a word to its broker. */
export function discard(client: MqttClient): void {
  client.removeAllListeners();
  client.on('error', () => undefined);
  client.end(true);
}

/**
 * Closes a connection that is no longer needed with a DISCONNECT, so its manager does not
 * publish this node's will as if the board had died; a dead manager gets its socket dropped.
 */
export function retire(client: MqttClient, clock: Clock): void {
  client.removeAllListeners();
  client.on('error', () => undefined);
  client.end(false);
  clock.setTimeout(() => {
    if (!client.disconnected) client.stream?.destroy();
  }, RETIRE_TIMEOUT_MS);
}
