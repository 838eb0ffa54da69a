// Secret values at rest (secretbox under the manager's data key) and in transit (sealed to a node's box key).
import nacl from 'tweetnacl';

/** Largest secret or config value, like Docker's cap but sized for boards: 64 KiB. */
export const MAX_SECRET_BYTES = 64 * 1024;

const b64 = (u: Uint8Array): string => Buffer.from(u).toString('base64');
const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

/** A fresh 32-byte symmetric key for encrypting values at rest. */
export function newDataKey(): Uint8Array {
  return nacl.randomBytes(nacl.secretbox.keyLength);
}

/** nonce || secretbox(value), base64: what the store keeps instead of the value. */
export function encryptAtRest(dataKey: Uint8Array, value: Uint8Array): string {
  const nonce = nacl.randomBytes(nacl.secretbox.nonceLength);
  const box = nacl.secretbox(value, nonce, dataKey);
  return b64(concat(nonce, box));
}

/** The value, or null when the ciphertext was made with another key or was altered. */
export function decryptAtRest(dataKey: Uint8Array, sealed: string): Uint8Array | null {
  const raw = unb64(sealed);
  const n = nacl.secretbox.nonceLength;
  if (raw.length < n + nacl.secretbox.overheadLength) return null;
  return nacl.secretbox.open(raw.subarray(n), raw.subarray(0, n), dataKey);
}

/**
 * Seals a value to a node's x25519 box key with a fresh ephemeral sender key per message:
 * ephemeralPub || nonce || box(value), base64. Only the holder of the node's box secret key
 * can open it; the manager keeps no sender key, so nothing long-lived can open it again.
 */
export function sealTo(boxPubB64: string, value: Uint8Array): string {
  const recipient = unb64(boxPubB64);
  if (recipient.length !== nacl.box.publicKeyLength) throw new Error('bad box public key');
  const eph = nacl.box.keyPair();
  const nonce = nacl.randomBytes(nacl.box.nonceLength);
  const box = nacl.box(value, nonce, recipient, eph.secretKey);
  eph.secretKey.fill(0);
  return b64(concat(eph.publicKey, nonce, box));
}

/** Opens a value sealed to this node; null when it was sealed to another key or altered. */
export function unseal(sealed: string, boxSecretB64: string): Uint8Array | null {
  const raw = unb64(sealed);
  const secret = unb64(boxSecretB64);
  const p = nacl.box.publicKeyLength;
  const n = nacl.box.nonceLength;
  if (secret.length !== nacl.box.secretKeyLength) return null;
  if (raw.length < p + n + nacl.box.overheadLength) return null;
  return nacl.box.open(raw.subarray(p + n), raw.subarray(p, p + n), raw.subarray(0, p), secret);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
