// The manager's TLS material: a CA certificate over the cluster's root ed25519 key and a listener certificate it issues.
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  X509Certificate,
} from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { readJsonFile, writeFileAtomic } from '../../shared/atomic-file.js';
import { z } from 'zod';

export interface TlsMaterial {
  /** PEM chain the listener presents: its own certificate, then the CA certificate. */
  certChainPem: string;
  keyPem: string;
  caPem: string;
}

const LEAF_LIFETIME_MS = 365 * 24 * 3600_000;
const CA_LIFETIME_MS = 20 * 365 * 24 * 3600_000;
/** A listener certificate this close to its end is replaced at the next start. */
const LEAF_RENEW_BEFORE_MS = 30 * 24 * 3600_000;

// ---- a few DER building blocks: just what an X.509 v3 certificate needs

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, body: Buffer): Buffer =>
  Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
const seq = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items));
const explicit = (n: number, body: Buffer): Buffer => tlv(0xa0 + n, body);
const octets = (b: Buffer): Buffer => tlv(0x04, b);
const bitString = (b: Buffer, unusedBits = 0): Buffer =>
  tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), b]));
const TRUE = Buffer.from([0x01, 0x01, 0xff]);

function integer(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const trimmed = b.subarray(i);
  // DER integers are signed: a leading high bit needs a zero byte to stay positive.
  const body = (trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
  return tlv(0x02, body);
}

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out = [(parts[0] ?? 0) * 40 + (parts[1] ?? 0)];
  for (const p of parts.slice(2)) {
    const chunk = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128))
      chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

function time(ms: number): Buffer {
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '') + 'Z';
  const year = new Date(ms).getUTCFullYear();
  // RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
  return year < 2050 ? tlv(0x17, Buffer.from(digits.slice(2))) : tlv(0x18, Buffer.from(digits));
}

const commonName = (cn: string): Buffer =>
  seq(set(seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from(cn, 'utf8')))));

const ED25519 = seq(oid('1.3.101.112'));

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(id), TRUE, octets(value)) : seq(oid(id), octets(value));
}

function serialNumber(): Buffer {
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f;
  return integer(b);
}

interface CertSpec {
  subject: string;
  issuer: string;
  notBefore: number;
  notAfter: number;
  spkiDer: Buffer;
  extensions: Buffer[];
  rootSecretKey: string;
}

const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');

/** Builds and signs a certificate with the root key (tweetnacl layout: seed then public key). */
function issue(spec: CertSpec): string {
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))),
    serialNumber(),
    ED25519,
    commonName(spec.issuer),
    seq(time(spec.notBefore), time(spec.notAfter)),
    commonName(spec.subject),
    spec.spkiDer,
    explicit(3, seq(...spec.extensions)),
  );
  const seed = Buffer.from(spec.rootSecretKey, 'base64').subarray(0, 32);
  const key = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const der = seq(tbs, ED25519, bitString(sign(null, tbs, key)));
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN CERTIFICATE-----\n${b64.trimEnd()}\n-----END CERTIFICATE-----\n`;
}

const CA_NAME = 'fleet cluster root';
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');

/** The CA certificate: self-signed by the root key, so its public key is the one join tokens pin. */
export function makeCaCertificate(rootPub: string, rootSecret: string, now: number): string {
  return issue({
    subject: CA_NAME,
    issuer: CA_NAME,
    notBefore: now - 3600_000,
    notAfter: now + CA_LIFETIME_MS,
    spkiDer: Buffer.concat([SPKI_ED25519, Buffer.from(rootPub, 'base64')]),
    extensions: [
      extension('2.5.29.19', true, seq(TRUE)), // basicConstraints: CA
      extension('2.5.29.15', true, bitString(Buffer.from([0x06]), 1)), // keyCertSign, cRLSign
    ],
    rootSecretKey: rootSecret,
  });
}

/** A listener certificate (ECDSA P-256) for HOST, issued by the root key. */
export function makeListenerCertificate(
  host: string,
  rootSecret: string,
  now: number,
): { certPem: string; keyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const ip = net.isIP(host);
  let name: Buffer;
  if (ip === 4) name = tlv(0x87, Buffer.from(host.split('.').map(Number)));
  else if (ip === 6) name = tlv(0x87, ipv6Bytes(host));
  else name = tlv(0x82, Buffer.from(host, 'ascii'));
  const certPem = issue({
    subject: `fleet manager ${host}`.slice(0, 64),
    issuer: CA_NAME,
    notBefore: now - 3600_000,
    notAfter: now + LEAF_LIFETIME_MS,
    spkiDer: publicKey.export({ type: 'spki', format: 'der' }),
    extensions: [
      extension('2.5.29.15', true, bitString(Buffer.from([0x80]), 7)), // digitalSignature
      extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'))), // extKeyUsage: serverAuth
      extension('2.5.29.17', false, seq(name)), // subjectAltName
    ],
    rootSecretKey: rootSecret,
  });
  return { certPem, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

function ipv6Bytes(host: string): Buffer {
  const [head = '', tail = ''] = host.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = host.includes('::')
    ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t]
    : h;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16) || 0, i * 2));
  return out;
}

const savedSchema = z.object({
  v: z.literal(1),
  host: z.string(),
  rootPub: z.string(),
  caPem: z.string(),
  certPem: z.string(),
  keyPem: z.string(),
});

/**
 * Loads DIR/tls.json, or makes it: on the first start of a cluster, when the listen host changed,
 * or when the listener certificate nears its end. Clients pin the root key, not these files, so
 * remaking them never disturbs a joined node.
 */
export async function loadOrMakeTls(
  dataDir: string,
  cluster: { rootPub: string; rootSecret: string },
  host: string,
  now: number,
): Promise<TlsMaterial> {
  const file = path.join(dataDir, 'tls.json');
  const saved = savedSchema.safeParse(await readJsonFile(file).catch(() => undefined));
  if (saved.success && saved.data.host === host && saved.data.rootPub === cluster.rootPub) {
    try {
      const leaf = new X509Certificate(saved.data.certPem);
      const ca = new X509Certificate(saved.data.caPem);
      if (
        Date.parse(leaf.validTo) - now > LEAF_RENEW_BEFORE_MS &&
        leaf.verify(ca.publicKey) &&
        createPublicKey(saved.data.keyPem).equals(leaf.publicKey)
      ) {
        return material(saved.data.caPem, saved.data.certPem, saved.data.keyPem);
      }
    } catch {
      // unreadable: fall through and make fresh material
    }
  }
  const caPem = makeCaCertificate(cluster.rootPub, cluster.rootSecret, now);
  const { certPem, keyPem } = makeListenerCertificate(host, cluster.rootSecret, now);
  await writeFileAtomic(
    file,
    JSON.stringify({ v: 1, host, rootPub: cluster.rootPub, caPem, certPem, keyPem }) + '\n',
  );
  return material(caPem, certPem, keyPem);
}

const material = (caPem: string, certPem: string, keyPem: string): TlsMaterial => ({
  certChainPem: certPem + caPem,
  keyPem,
  caPem,
});
