// Raw MQTT clients for tests that speak to a manager's broker directly, over its TLS listener.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

/** The CA certificate of a manager's cluster, from the TLS material in its data dir. */
export async function managerCaPem(m: { dataDir: string }): Promise<string> {
  const raw = JSON.parse(await fs.readFile(path.join(m.dataDir, 'tls.json'), 'utf8')) as {
    caPem: string;
  };
  return raw.caPem;
}

/** Writes the CA certificate next to the data dir, for tools like mosquitto_sub --cafile. */
export async function managerCaFile(m: { dataDir: string }): Promise<string> {
  const file = path.join(m.dataDir, '..', `${path.basename(m.dataDir)}-ca.pem`);
  await fs.writeFile(file, await managerCaPem(m));
  return file;
}

/**
 * Connects with the given credentials over TLS, trusting the manager's cluster CA. Tests that
 * probe the broker's authorization use this instead of the agent's pinned transport so they can
 * send whatever credentials they like.
 */
export async function connectRaw(
  m: { address: string; dataDir: string },
  options: IClientOptions,
): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtts://${m.address}`, {
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 5_000,
    ...options,
    ca: await managerCaPem(m),
    rejectUnauthorized: true,
  });
}

/**
 * A mosquitto_sub run's result, or a skip when the tool is missing: but never in CI, where
 * skipping would let the check pass unseen (the Debian package mosquitto-clients is installed).
 */
export function requireMosquitto<T>(t: TestContext, result: T | null): result is T {
  if (result) return true;
  if (process.env.CI)
    throw new Error('mosquitto_sub is required in CI (Debian package mosquitto-clients)');
  t.skip('mosquitto_sub is not installed');
  return false;
}
