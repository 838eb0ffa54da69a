// PROXY protocol encoders and decoder: v1 lines, byte-exact v2 headers, IPv6 and round trips.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  V2_SIGNATURE,
  decode,
  encodeV1,
  encodeV2,
  formatIpv6,
  ipv6Bytes,
  type ProxyAddresses,
} from '../../agent/ingress/proxy-protocol.js';

const v4: ProxyAddresses = {
  transport: 'tcp',
  srcAddr: '192.168.1.10',
  srcPort: 51234,
  dstAddr: '10.0.0.1',
  dstPort: 8080,
};
const v6: ProxyAddresses = {
  transport: 'tcp',
  srcAddr: '2001:db8::1',
  srcPort: 40000,
  dstAddr: 'fe80::1:2',
  dstPort: 443,
};

test('v1 encodes the haproxy text line for TCP4 and TCP6', () => {
  assert.equal(encodeV1(v4).toString(), 'PROXY TCP4 192.168.1.10 10.0.0.1 51234 8080\r\n');
  assert.equal(encodeV1(v6).toString(), 'PROXY TCP6 2001:db8::1 fe80::1:2 40000 443\r\n');
});

test('v1 announces IPv4-mapped IPv6 clients as TCP4 and unknowns as UNKNOWN', () => {
  const mapped = { ...v4, srcAddr: '::ffff:192.168.1.10', dstAddr: '::ffff:10.0.0.1' };
  assert.equal(encodeV1(mapped).toString(), 'PROXY TCP4 192.168.1.10 10.0.0.1 51234 8080\r\n');
  assert.equal(encodeV1({ ...v4, srcAddr: '' }).toString(), 'PROXY UNKNOWN\r\n');
  assert.deepEqual(decode(Buffer.from('PROXY UNKNOWN\r\nGET')), {
    version: 1,
    command: 'local',
    family: 'unspec',
    length: 15,
  });
});

test('v2 TCP4 header is byte-exact', () => {
  const h = encodeV2(v4);
  assert.equal(h.length, 28);
  assert.deepEqual(
    [...h.subarray(0, 12)],
    [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a],
  );
  assert.equal(h[12], 0x21);
  assert.equal(h[13], 0x11);
  assert.equal(h.readUInt16BE(14), 12);
  assert.deepEqual([...h.subarray(16, 24)], [192, 168, 1, 10, 10, 0, 0, 1]);
  assert.equal(h.readUInt16BE(24), 51234);
  assert.equal(h.readUInt16BE(26), 8080);
});

test('v2 UDP6 header has family 0x22 and a 36-byte address block', () => {
  const h = encodeV2({ ...v6, transport: 'udp' });
  assert.equal(h.length, 52);
  assert.ok(h.subarray(0, 12).equals(V2_SIGNATURE));
  assert.equal(h[13], 0x22);
  assert.equal(h.readUInt16BE(14), 36);
  assert.deepEqual(
    [...h.subarray(16, 32)],
    [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
  );
  assert.equal(h.readUInt16BE(48), 40000);
  assert.equal(h.readUInt16BE(50), 443);
});

test('v2 mixes of IPv4 and IPv6 ends are sent as IPv6 with a mapped address', () => {
  const d = decode(encodeV2({ ...v4, dstAddr: '::1' }));
  assert.equal(d?.family, 'inet6');
  assert.equal(d?.srcAddr, '::ffff:c0a8:10a');
  assert.equal(d?.dstAddr, '::1');
});

test('v2 LOCAL header when an address is unusable', () => {
  const h = encodeV2({ ...v4, srcAddr: 'not-an-ip' });
  assert.equal(h.length, 16);
  assert.equal(h[12], 0x20);
  assert.equal(h[13], 0x00);
  assert.equal(h.readUInt16BE(14), 0);
  assert.equal(decode(h)?.command, 'local');
});

test('encode/decode round trips for v1 and v2, TCP and UDP, IPv4 and IPv6', () => {
  const payload = Buffer.from('GET / HTTP/1.1\r\n\r\n');
  for (const a of [
    v4,
    v6,
    { ...v4, transport: 'udp' as const },
    { ...v6, transport: 'udp' as const },
  ]) {
    for (const version of [1, 2] as const) {
      if (version === 1 && a.transport === 'udp') continue;
      const h = version === 1 ? encodeV1(a) : encodeV2(a);
      const d = decode(Buffer.concat([h, payload]));
      assert.ok(d);
      assert.equal(d.version, version);
      assert.equal(d.command, 'proxy');
      assert.equal(d.length, h.length);
      const { transport, srcAddr, srcPort, dstAddr, dstPort } = d;
      assert.deepEqual({ transport, srcAddr, srcPort, dstAddr, dstPort }, a);
    }
  }
});

test('decode waits for a whole header and rejects garbage', () => {
  const h = encodeV2(v6);
  for (let n = 0; n < h.length; n++) assert.equal(decode(h.subarray(0, n)), null);
  const line = encodeV1(v4);
  for (let n = 0; n < line.length - 1; n++) assert.equal(decode(line.subarray(0, n)), null);
  assert.throws(() => decode(Buffer.from('GET / HTTP/1.1\r\n')));
  assert.throws(() => decode(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\n')));
  assert.throws(() => decode(Buffer.from('PROXY TCP4 ::1 5.6.7.8 1 80\r\n')));
});

test('IPv6 text and bytes convert both ways, with compression and dotted tails', () => {
  const cases: Array<[string, string]> = [
    ['::', '::'],
    ['::1', '::1'],
    ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:0:0:0:2:1', '2001:db8::2:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['::ffff:1.2.3.4', '::ffff:102:304'],
    ['fe80::1%eth0', 'fe80::1'],
  ];
  for (const [input, canonical] of cases) assert.equal(formatIpv6(ipv6Bytes(input)), canonical);
});
