// The DNS wire format (RFC 1035) as far as the agent's name server needs it: parse a query, write an answer.

/** Record types and classes the server tells apart (RFC 1035 3.2.2, RFC 3596 for AAAA). */
export const DNS_TYPE = { A: 1, AAAA: 28, ANY: 255 } as const;
export const DNS_CLASS_IN = 1;

/** Response codes (RFC 1035 4.1.1). */
export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
} as const;
export type Rcode = (typeof RCODE)[keyof typeof RCODE];

const HEADER_BYTES = 12;
/** A name is at most 255 octets on the wire, a label at most 63 (RFC 1035 2.3.4). */
const MAX_NAME_BYTES = 255;
const MAX_LABEL_BYTES = 63;
/** Compression pointers a name may follow before it is called a loop. */
const MAX_POINTERS = 16;

export interface DnsQuestion {
  /** The labels as sent (case kept, for the echo in the answer). */
  labels: string[];
  type: number;
  class: number;
}

export interface DnsQuery {
  id: number;
  opcode: number;
  /** Recursion desired: copied into the answer. */
  rd: boolean;
  question: DnsQuestion;
}

export type ParseResult =
  | { ok: true; query: DnsQuery }
  /** id is set when the header could be read, so a FORMERR/NOTIMP answer can still be sent. */
  | { ok: false; reason: string; id?: number; opcode?: number };

export interface ARecord {
  /** IPv4 address in dotted form. */
  address: string;
  ttl: number;
}

/** The question's name in lower case, without a trailing dot ("" for the root). */
export function questionName(q: DnsQuestion): string {
  return q.labels.join('.').toLowerCase();
}

/**
 * Reads a query: a header with QR=0 and exactly one question. Anything else (a response, a
 * truncated or looping name, several questions) is refused with a reason; nothing throws.
 */
export function parseQuery(buf: Uint8Array): ParseResult {
  if (buf.length < HEADER_BYTES) return { ok: false, reason: `short packet (${buf.length} bytes)` };
  const view = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  const id = view.readUInt16BE(0);
  const flags = view.readUInt16BE(2);
  const opcode = (flags >> 11) & 0xf;
  if (flags & 0x8000) return { ok: false, reason: 'a response, not a query' };
  const qdcount = view.readUInt16BE(4);
  if (opcode !== 0) return { ok: false, reason: `opcode ${opcode} not supported`, id, opcode };
  if (qdcount !== 1)
    return { ok: false, reason: `${qdcount} questions (one expected)`, id, opcode };
  const name = readName(view, HEADER_BYTES);
  if (typeof name === 'string') return { ok: false, reason: name, id, opcode };
  if (name.end + 4 > view.length) return { ok: false, reason: 'question cut short', id, opcode };
  const question = {
    labels: name.labels,
    type: view.readUInt16BE(name.end),
    class: view.readUInt16BE(name.end + 2),
  };
  return { ok: true, query: { id, opcode, rd: (flags & 0x0100) !== 0, question } };
}

/**
 * An authoritative answer to the query: the question echoed, then one A record per address
 * (the answer's name points back at the question's, RFC 1035 4.1.4).
 */
export function buildResponse(
  query: Pick<DnsQuery, 'id' | 'opcode' | 'rd'> & { question?: DnsQuestion },
  rcode: Rcode,
  answers: readonly ARecord[] = [],
): Buffer {
  const q = query.question;
  const qname = q ? encodeName(q.labels) : Buffer.alloc(0);
  const questionBytes = q ? qname.length + 4 : 0;
  const out = Buffer.alloc(HEADER_BYTES + questionBytes + answers.length * 16);
  out.writeUInt16BE(query.id, 0);
  // QR=1, the opcode, AA=1, RD as asked, RA=1 (the agent forwards what it does not know).
  const flags = 0x8000 | (query.opcode << 11) | 0x0400 | (query.rd ? 0x0100 : 0) | 0x0080 | rcode;
  out.writeUInt16BE(flags, 2);
  out.writeUInt16BE(q ? 1 : 0, 4);
  out.writeUInt16BE(answers.length, 6);
  let at = HEADER_BYTES;
  if (q) {
    qname.copy(out, at);
    at += qname.length;
    out.writeUInt16BE(q.type, at);
    out.writeUInt16BE(q.class, at + 2);
    at += 4;
  }
  for (const a of answers) {
    out.writeUInt16BE(0xc000 | HEADER_BYTES, at);
    out.writeUInt16BE(DNS_TYPE.A, at + 2);
    out.writeUInt16BE(DNS_CLASS_IN, at + 4);
    out.writeUInt32BE(a.ttl >>> 0, at + 6);
    out.writeUInt16BE(4, at + 10);
    writeIPv4(out, at + 12, a.address);
    at += 16;
  }
  return out;
}

/** The id of a DNS message, or null when it is too short to have one. */
export function messageId(buf: Uint8Array): number | null {
  return buf.length >= 2 ? ((buf[0] ?? 0) << 8) | (buf[1] ?? 0) : null;
}

/** Whether a message is a response (QR=1) with the given id: an upstream's answer to us. */
export function isResponseTo(buf: Uint8Array, id: number): boolean {
  return buf.length >= HEADER_BYTES && messageId(buf) === id && ((buf[2] ?? 0) & 0x80) !== 0;
}

/** The wire form of a name from its labels (the root is a single zero octet). */
export function encodeName(labels: readonly string[]): Buffer {
  const parts: Buffer[] = [];
  for (const l of labels) {
    const b = Buffer.from(l, 'latin1');
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** Reads a name at offset: its labels and where the name ends in the packet, or why it cannot. */
function readName(view: Buffer, offset: number): { labels: string[]; end: number } | string {
  const labels: string[] = [];
  let at = offset;
  let end = -1;
  let bytes = 1;
  for (let pointers = 0; ;) {
    if (at >= view.length) return 'name cut short';
    const len = view[at] ?? 0;
    if ((len & 0xc0) === 0xc0) {
      if (at + 1 >= view.length) return 'name cut short';
      if (++pointers > MAX_POINTERS) return 'compression loop in name';
      if (end < 0) end = at + 2;
      at = ((len & 0x3f) << 8) | (view[at + 1] ?? 0);
      continue;
    }
    if ((len & 0xc0) !== 0) return `bad label type 0x${len.toString(16)}`;
    if (len === 0) return { labels, end: end < 0 ? at + 1 : end };
    if (len > MAX_LABEL_BYTES) return 'label longer than 63 octets';
    if (at + 1 + len > view.length) return 'name cut short';
    bytes += len + 1;
    if (bytes > MAX_NAME_BYTES) return 'name longer than 255 octets';
    labels.push(view.toString('latin1', at + 1, at + 1 + len));
    at += 1 + len;
  }
}

function writeIPv4(out: Buffer, at: number, address: string): void {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255))
    throw new Error(`not an IPv4 address: ${address}`);
  parts.forEach((p, i) => out.writeUInt8(p, at + i));
}
