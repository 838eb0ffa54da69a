// The agent's DNS: the wire codec (queries in, answers out, malformed packets refused) and the answer policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DNS_TYPE,
  RCODE,
  buildResponse,
  encodeName,
  isResponseTo,
  parseQuery,
  questionName,
} from '../../agent/network/dns-codec.js';
import { decide, parseResolvConf } from '../../agent/network/dns-policy.js';

/** A query as a stub resolver sends it: RD set, one question, optionally an EDNS OPT record. */
function query(name: string, type: number = DNS_TYPE.A, id = 0x1234, edns = false): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(edns ? 1 : 0, 10);
  const labels = name.split('.').filter(Boolean);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(1, 2);
  const opt = edns ? Buffer.from([0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]) : Buffer.alloc(0);
  return Buffer.concat([header, encodeName(labels), tail, opt]);
}

function parsed(buf: Buffer) {
  const r = parseQuery(buf);
  assert.ok(r.ok, r.ok ? '' : r.reason);
  return r.query;
}

/** The A records of an answer built by buildResponse (answers follow the echoed question). */
function answerAddresses(reply: Buffer): string[] {
  const an = reply.readUInt16BE(6);
  let at = 12;
  while (reply[at] !== 0) at += (reply[at] ?? 0) + 1;
  at += 5;
  const out: string[] = [];
  for (let i = 0; i < an; i++, at += 16) out.push([...reply.subarray(at + 12, at + 16)].join('.'));
  return out;
}

const names = new Map([
  ['web', '10.213.4.128'],
  ['myapp_web', '10.213.4.128'],
]);

test('a query is read with its id, recursion flag, name, type and class', () => {
  const q = parsed(query('Web.Example.', DNS_TYPE.AAAA, 0xbeef, true));
  assert.equal(q.id, 0xbeef);
  assert.equal(q.rd, true);
  assert.deepEqual(q.question.labels, ['Web', 'Example']);
  assert.equal(questionName(q.question), 'web.example');
  assert.equal(q.question.type, DNS_TYPE.AAAA);
  assert.equal(q.question.class, 1);
});

test('an answer echoes id and question, is authoritative and carries the A records', () => {
  const q = parsed(query('web'));
  const reply = buildResponse(q, RCODE.NOERROR, [{ address: '10.213.4.128', ttl: 5 }]);
  assert.equal(reply.readUInt16BE(0), 0x1234);
  const flags = reply.readUInt16BE(2);
  assert.equal(flags & 0x8000, 0x8000, 'QR');
  assert.equal(flags & 0x0400, 0x0400, 'AA');
  assert.equal(flags & 0x0100, 0x0100, 'RD copied');
  assert.equal(flags & 0xf, RCODE.NOERROR);
  assert.equal(reply.readUInt16BE(4), 1);
  assert.deepEqual(answerAddresses(reply), ['10.213.4.128']);
  assert.ok(isResponseTo(reply, 0x1234));
  assert.ok(!isResponseTo(reply, 0x1235));
});

test('names compressed by pointer are followed, and a pointer loop is refused', () => {
  // The question's name is a pointer to "web" placed after the question.
  const header = query('x').subarray(0, 12);
  const tail = Buffer.from([0xc0, 18, 0, 1, 0, 1, 3, 0x77, 0x65, 0x62, 0]);
  assert.deepEqual(parsed(Buffer.concat([header, tail])).question.labels, ['web']);
  const loop = Buffer.from(query('x'));
  loop.writeUInt16BE(0xc00c, 12); // points at itself
  const r = parseQuery(loop);
  assert.ok(!r.ok);
  assert.match(r.ok ? '' : r.reason, /loop/);
});

test('malformed packets are refused with a reason, never thrown', () => {
  const cases: [Buffer, RegExp][] = [
    [Buffer.alloc(5), /short/],
    [Buffer.from(query('web')).fill(0x80, 2, 3), /response/],
    [query('web').subarray(0, 15), /cut short/],
    [Buffer.concat([query('web').subarray(0, 12), Buffer.from([64])]), /label type/],
  ];
  for (const [buf, reason] of cases) {
    const r = parseQuery(buf);
    assert.ok(!r.ok);
    assert.match(r.ok ? '' : r.reason, reason);
  }
  const two = query('web');
  two.writeUInt16BE(2, 4);
  const r = parseQuery(two);
  assert.ok(!r.ok && r.id === 0x1234, 'the id is kept for a FORMERR answer');
});

test('any byte string parses or is refused without throwing', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
      const r = parseQuery(bytes);
      if (r.ok) buildResponse(r.query, RCODE.NOERROR);
    }),
    { numRuns: 2000 },
  );
});

test('known names answer A, case-insensitive, with or without the trailing dot', () => {
  for (const n of ['web', 'WEB.', 'MyApp_Web']) {
    const d = decide(parsed(query(n)), names, []);
    assert.deepEqual(d, {
      kind: 'answer',
      rcode: RCODE.NOERROR,
      answers: [{ address: '10.213.4.128', ttl: 5 }],
    });
  }
});

test('AAAA of a known name is an empty NOERROR; unknown names are forwarded', () => {
  assert.deepEqual(decide(parsed(query('web', DNS_TYPE.AAAA)), names, []), {
    kind: 'answer',
    rcode: RCODE.NOERROR,
    answers: [],
  });
  assert.deepEqual(decide(parsed(query('rabbit')), names, []), { kind: 'forward' });
  assert.deepEqual(decide(parsed(query('example.org')), names, ['corp.example']), {
    kind: 'forward',
  });
});

test('a known name under a search domain is NXDOMAIN', () => {
  const d = decide(parsed(query('web.corp.example.')), names, ['corp.example']);
  assert.deepEqual(d, { kind: 'answer', rcode: RCODE.NXDOMAIN, answers: [] });
});

test('resolv.conf gives IPv4 name servers and the search list', () => {
  const conf = parseResolvConf(
    '# comment\nnameserver 10.0.0.53\nnameserver ::1\nsearch Corp.Example. lan\noptions ndots:2\n',
  );
  assert.deepEqual(conf, { nameservers: ['10.0.0.53'], search: ['corp.example', 'lan'] });
});
