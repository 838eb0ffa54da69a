// How agents and the CLI reach a manager: TLS pinned to the cluster's root key, or plain TCP when told to.
import { X509Certificate } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { MqttClient, type IClientOptions } from 'mqtt';
import { CLOCK_SKEW_MS, fingerprint } from './identity.js';
import { systemClock } from './clock.js';

/** What the manager's certificate must chain to: the root key itself, or its fingerprint from a join token. */
export type Pin = { rootPub: string } | { fingerprint: string };

export interface Transport {
  /** Plain TCP, no encryption and no check of the manager: development only. */
  insecure: boolean;
  pin: Pin;
  now?: () => number;
}

export const UNTRUSTED_MANAGER = 'ERR_FLEET_UNTRUSTED_MANAGER';

/** True when the flag was given or FLEET_INSECURE=1 is set. */
export function insecureRequested(flag: boolean | undefined): boolean {
  return flag === true || process.env['FLEET_INSECURE'] === '1';
}

export function splitAddress(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(address.trim());
  if (!m?.[1] || !m[2]) return { host: address, port: 4883 };
  return { host: m[1], port: Number(m[2]) };
}

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/**
 * Checks the chain a manager presented: a CA certificate whose key is the pinned root key, and a
 * listener certificate signed by it and valid now (within the clock skew boards are allowed).
 * Returns why the manager is not trusted, or null.
 */
export function checkManagerChain(socket: tls.TLSSocket, pin: Pin, now: number): string | null {
  const peer = socket.getPeerCertificate(true);
  if (!peer || !peer.raw) return 'it presented no certificate';
  const issuer = peer.issuerCertificate;
  if (!issuer?.raw || issuer.raw.equals(peer.raw))
    return 'its certificate is not issued by a cluster root key';
  let leaf: X509Certificate;
  let ca: X509Certificate;
  try {
    leaf = new X509Certificate(peer.raw);
    ca = new X509Certificate(issuer.raw);
  } catch {
    return 'its certificate is unreadable';
  }
  const spki = ca.publicKey.export({ type: 'spki', format: 'der' });
  if (spki.length !== 44 || !spki.subarray(0, 12).equals(SPKI_ED25519_PREFIX))
    return 'its issuing key is not an ed25519 cluster root key';
  const rootPub = spki.subarray(12).toString('base64');
  const matches =
    'rootPub' in pin ? pin.rootPub === rootPub : pin.fingerprint === fingerprint(rootPub);
  if (!matches) return 'its certificate chains to another cluster (root key fingerprint mismatch)';
  if (!leaf.verify(ca.publicKey)) return 'its certificate is not signed by the cluster root key';
  if (Date.parse(leaf.validFrom) > now + CLOCK_SKEW_MS) return 'its certificate is not valid yet';
  if (Date.parse(leaf.validTo) < now - CLOCK_SKEW_MS) return 'its certificate has expired';
  return null;
}

/**
 * Opens an MQTT client to ADDRESS. With TLS, writes are held (corked) until the manager's chain
 * passed checkManagerChain: mqtt.js writes CONNECT, which carries the join token or the signed
 * credentials, the moment the stream exists, and none of it may reach an impostor.
 */
export function connectMqtt(
  address: string,
  transport: Transport,
  clientOptions: IClientOptions,
): MqttClient {
  // writeCache off: otherwise mqtt-packet fills a table of 65,536 two-byte Buffers on the first
  // write (about 6 MB of heap, a tenth of an idle agent) to save allocating one per message id.
  const options: IClientOptions = { writeCache: false, ...clientOptions };
  const { host, port } = splitAddress(address);
  if (transport.insecure) {
    const plain = new MqttClient(
      () => {
        const socket = net.connect({ host, port });
        socket.setNoDelay(true);
        return socket;
      },
      { ...options, protocol: 'mqtt', host, port },
    );
    plain.on('error', () => undefined);
    return plain;
  }
  const now = transport.now ?? ((): number => systemClock.now());
  const build = (): tls.TLSSocket => {
    const socket = tls.connect({
      host,
      port,
      servername: net.isIP(host) ? undefined : host,
      // The standard chain check cannot know a cluster's private CA before the join; the
      // pinning check below replaces it and runs before a single byte is sent.
      rejectUnauthorized: false,
    });
    // Requests are small and each waits for its answer: Nagle plus delayed ACKs would add ~40 ms.
    socket.setNoDelay(true);
    socket.cork();
    socket.once('secureConnect', () => {
      const why = checkManagerChain(socket, transport.pin, now());
      if (why) {
        const err = Object.assign(new Error(`refusing the manager at ${address}: ${why}`), {
          code: UNTRUSTED_MANAGER,
        });
        socket.destroy(err);
        return;
      }
      socket.uncork();
    });
    return socket;
  };
  const client = new MqttClient(build, { ...options, protocol: 'mqtts', host, port });
  // mqtt.connect adds this too: errors surface through the listeners callers attach.
  client.on('error', () => undefined);
  return client;
}

/** connectMqtt as a promise: resolves once CONNACK accepted, rejects with the first error. */
export function connectMqttAsync(
  address: string,
  transport: Transport,
  options: IClientOptions,
): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = connectMqtt(address, transport, options);
    const done = (err: Error | null): void => {
      client.removeListener('connect', onConnect);
      client.removeListener('error', onError);
      client.removeListener('close', onClose);
      if (!err) return resolve(client);
      client.end(true);
      reject(err);
    };
    const onConnect = (): void => done(null);
    const onError = (e: Error): void => done(e);
    const onClose = (): void => done(new Error('connection closed before the manager answered'));
    client.on('connect', onConnect);
    client.on('error', onError);
    client.on('close', onClose);
  });
}
