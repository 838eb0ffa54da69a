// PROXY protocol (haproxy's proxy-protocol.txt) v1 text and v2 binary headers: encoders for the ingress, a decoder for tests and tools.
import { isIPv4, isIPv6 } from 'node:net';

/** The 12-byte v2 signature: "\r\n\r\n\0\r\nQUIT\n". */
export const V2_SIGNATURE = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
]);

export interface ProxyAddresses {
  /** 'tcp' or 'udp'; v1 can only say TCP, so UDP endpoints are v2-only. */
  transport: 'tcp' | 'udp';
  srcAddr: string;
  srcPort: number;
  dstAddr: string;
  dstPort: number;
}

export interface DecodedHeader extends Partial<ProxyAddresses> {
  version: 1 | 2;
  /** 'local' (v2 LOCAL, v1 UNKNOWN): the connection carries no client address. */
  command: 'proxy' | 'local';
  family: 'inet' | 'inet6' | 'unspec';
  /** Bytes the header takes at the start of the input; the payload starts there. */
  length: number;
}

/**
 * Unwraps IPv4-mapped IPv6 (::ffff:a.b.c.d, what a dual-stack listener reports) so an IPv4 client
 * is announced as TCP4; when the two ends still differ in family both are given as IPv6.
 */
function normalize(a: ProxyAddresses): { src: string; dst: string; v6: boolean } | null {
  const unmap = (s: string): string => (/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(s) ? s.slice(7) : s);
  const src = unmap(a.srcAddr);
  const dst = unmap(a.dstAddr);
  const v4s = isIPv4(src);
  const v4d = isIPv4(dst);
  if ((!v4s && !isIPv6(src)) || (!v4d && !isIPv6(dst))) return null;
  if (v4s && v4d) return { src, dst, v6: false };
  return { src: v4s ? `::ffff:${src}` : src, dst: v4d ? `::ffff:${dst}` : dst, v6: true };
}

/** A v1 header line, e.g. "PROXY TCP4 1.2.3.4 5.6.7.8 1234 80\r\n"; UNKNOWN when unrepresentable. */
export function encodeV1(a: ProxyAddresses): Buffer {
  const n = normalize(a);
  if (!n || a.transport !== 'tcp') return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  const fam = n.v6 ? 'TCP6' : 'TCP4';
  return Buffer.from(`PROXY ${fam} ${n.src} ${n.dst} ${a.srcPort} ${a.dstPort}\r\n`, 'latin1');
}

/** A v2 header (command PROXY) with no TLVs; LOCAL with family UNSPEC when unrepresentable. */
export function encodeV2(a: ProxyAddresses): Buffer {
  const n = normalize(a);
  if (!n) return v2Local();
  const addrLen = n.v6 ? 36 : 12;
  const out = Buffer.alloc(16 + addrLen);
  V2_SIGNATURE.copy(out, 0);
  out[12] = 0x21; // version 2, command PROXY
  // High nibble: AF_INET (1) or AF_INET6 (2); low nibble: STREAM (1) or DGRAM (2).
  out[13] = ((n.v6 ? 2 : 1) << 4) | (a.transport === 'tcp' ? 1 : 2);
  out.writeUInt16BE(addrLen, 14);
  const ipLen = n.v6 ? 16 : 4;
  writeIp(n.src, out, 16);
  writeIp(n.dst, out, 16 + ipLen);
  out.writeUInt16BE(a.srcPort, 16 + 2 * ipLen);
  out.writeUInt16BE(a.dstPort, 18 + 2 * ipLen);
  return out;
}

function v2Local(): Buffer {
  const out = Buffer.alloc(16);
  V2_SIGNATURE.copy(out, 0);
  out[12] = 0x20; // version 2, command LOCAL, family UNSPEC, no address block
  return out;
}

function writeIp(ip: string, out: Buffer, at: number): void {
  if (isIPv4(ip)) {
    ip.split('.').forEach((o, i) => (out[at + i] = Number(o)));
    return;
  }
  ipv6Bytes(ip).copy(out, at);
}

/** The 16 bytes of an IPv6 address, with "::" compression and a dotted IPv4 tail. */
export function ipv6Bytes(ip: string): Buffer {
  const out = Buffer.alloc(16);
  const zone = ip.indexOf('%');
  const bare = zone >= 0 ? ip.slice(0, zone) : ip;
  const [head = '', tail] = bare.split('::');
  const groups = (s: string): number[] => {
    if (s === '') return [];
    const words: number[] = [];
    for (const part of s.split(':')) {
      if (part.includes('.')) {
        const o = part.split('.').map(Number);
        words.push(((o[0] ?? 0) << 8) | (o[1] ?? 0), ((o[2] ?? 0) << 8) | (o[3] ?? 0));
      } else words.push(parseInt(part, 16));
    }
    return words;
  };
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const words = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  words.forEach((w, i) => out.writeUInt16BE(w, i * 2));
  return out;
}

/** RFC 5952 text of 16 IPv6 bytes: lowercase, the longest run of two or more zero words as "::". */
export function formatIpv6(b: Buffer, at = 0): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push(b.readUInt16BE(at + i * 2));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (ws: number[]): string => ws.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(w);
  return `${hex(w.slice(0, best))}::${hex(w.slice(best + bestLen))}`;
}

/**
 * Parses a header at the start of buf: the header, null when buf does not (yet) hold a whole
 * one, or throws when the bytes cannot be a PROXY header.
 */
export function decode(buf: Buffer): DecodedHeader | null {
  if (buf.length >= 12 && buf.subarray(0, 12).equals(V2_SIGNATURE)) return decodeV2(buf);
  if (V2_SIGNATURE.subarray(0, Math.min(buf.length, 12)).equals(buf.subarray(0, 12))) return null; // a prefix of the v2 signature
  return decodeV1(buf);
}

function decodeV1(buf: Buffer): DecodedHeader | null {
  const prefix = Buffer.from('PROXY ', 'latin1');
  const n = Math.min(buf.length, prefix.length);
  if (!buf.subarray(0, n).equals(prefix.subarray(0, n))) throw new Error('not a PROXY header');
  const end = buf.indexOf('\r\n', 0, 'latin1');
  if (end < 0) {
    if (buf.length >= 107) throw new Error('PROXY v1 line longer than 107 bytes');
    return null;
  }
  const parts = buf.toString('latin1', 0, end).split(' ');
  const length = end + 2;
  if (parts[1] === 'UNKNOWN') return { version: 1, command: 'local', family: 'unspec', length };
  const [, fam, src, dst, sport, dport] = parts;
  if ((fam !== 'TCP4' && fam !== 'TCP6') || parts.length !== 6 || !src || !dst)
    throw new Error(`bad PROXY v1 line: ${parts.join(' ')}`);
  const family = fam === 'TCP4' ? 'inet' : 'inet6';
  const check = family === 'inet' ? isIPv4 : isIPv6;
  if (!check(src) || !check(dst)) throw new Error('bad PROXY v1 address');
  return {
    version: 1,
    command: 'proxy',
    family,
    transport: 'tcp',
    srcAddr: src,
    dstAddr: dst,
    srcPort: port(sport),
    dstPort: port(dport),
    length,
  };
}

function port(s: string | undefined): number {
  const p = Number(s);
  if (!/^\d{1,5}$/.test(s ?? '') || p > 65535) throw new Error(`bad PROXY port ${s}`);
  return p;
}

function decodeV2(buf: Buffer): DecodedHeader | null {
  if (buf.length < 16) return null;
  const verCmd = buf[12] ?? 0;
  if (verCmd >> 4 !== 2) throw new Error('PROXY v2: bad version');
  const cmd = verCmd & 0x0f;
  if (cmd > 1) throw new Error('PROXY v2: bad command');
  const length = 16 + buf.readUInt16BE(14);
  if (buf.length < length) return null;
  const famByte = buf[13] ?? 0;
  const af = famByte >> 4;
  const proto = famByte & 0x0f;
  const command = cmd === 1 ? 'proxy' : 'local';
  if (cmd === 0 || (af !== 1 && af !== 2) || (proto !== 1 && proto !== 2))
    return { version: 2, command, family: 'unspec', length };
  const ipLen = af === 1 ? 4 : 16;
  if (length < 16 + 2 * ipLen + 4) throw new Error('PROXY v2: address block too short');
  const ip = (at: number): string =>
    af === 1 ? [...buf.subarray(at, at + 4)].join('.') : formatIpv6(buf, at);
  return {
    version: 2,
    command,
    family: af === 1 ? 'inet' : 'inet6',
    transport: proto === 1 ? 'tcp' : 'udp',
    srcAddr: ip(16),
    dstAddr: ip(16 + ipLen),
    srcPort: buf.readUInt16BE(16 + 2 * ipLen),
    dstPort: buf.readUInt16BE(18 + 2 * ipLen),
    length,
  };
}
