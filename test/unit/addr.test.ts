import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatAddress, formatEndpoint } from '../../src/kernel/addr';
import { AF_INET, AF_INET6 } from '../../src/kernel/states';

/** A 16-byte address field, as the kernel records hold it, at `offset` in a larger buffer. */
function field(bytes: number[], offset = 0): Uint8Array {
  const buf = new Uint8Array(offset + 16).fill(0xee, 0, offset);
  buf.set(bytes, offset);
  return buf;
}

/** Eight 16-bit groups -> the 16 network-order bytes of an IPv6 address. */
function v6(...groups: number[]): number[] {
  assert.equal(groups.length, 8);
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

function formatV6(...groups: number[]): string {
  return formatAddress(field(v6(...groups)), 0, AF_INET6);
}

test('IPv4 is dotted decimal from the first four bytes', () => {
  assert.equal(formatAddress(field([10, 0, 0, 1]), 0, AF_INET), '10.0.0.1');
  assert.equal(formatAddress(field([255, 255, 255, 255]), 0, AF_INET), '255.255.255.255');
  assert.equal(formatAddress(field([0, 0, 0, 0]), 0, AF_INET), '0.0.0.0');
});

test('IPv4 reads at the given offset and ignores the 12 bytes after the address', () => {
  const buf = field([192, 168, 1, 20, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9], 5);
  assert.equal(formatAddress(buf, 5, AF_INET), '192.168.1.20');
});

test('IPv6 unspecified and loopback', () => {
  assert.equal(formatV6(0, 0, 0, 0, 0, 0, 0, 0), '::');
  assert.equal(formatV6(0, 0, 0, 0, 0, 0, 0, 1), '::1');
});

test('IPv6 compresses the zero run at either end', () => {
  assert.equal(formatV6(0xfe80, 0, 0, 0, 0, 0, 0, 1), 'fe80::1');
  assert.equal(formatV6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), '2001:db8::');
  assert.equal(formatV6(0, 0, 0, 0, 0, 0, 0x1234, 0x5678), '::1234:5678');
});

test('IPv6 is lower-case hex without leading zeros (RFC 5952 4.1, 4.3)', () => {
  assert.equal(formatV6(0x2001, 0x0db8, 0xabcd, 0x00ef, 0x0001, 0xffff, 0x0100, 0x000a), '2001:db8:abcd:ef:1:ffff:100:a');
});

test('IPv6 compresses the longest zero run, not the first (RFC 5952 4.2.3)', () => {
  assert.equal(formatV6(0x2001, 0, 0, 1, 0, 0, 0, 1), '2001:0:0:1::1');
  assert.equal(formatV6(0x2001, 0xdb8, 0, 0, 0, 1, 0, 0), '2001:db8::1:0:0');
});

test('IPv6 compresses the leftmost of equal-length zero runs (RFC 5952 4.2.3)', () => {
  assert.equal(formatV6(0x2001, 0xdb8, 0, 0, 1, 0, 0, 1), '2001:db8::1:0:0:1');
  assert.equal(formatV6(0x2001, 0, 0, 1, 1, 0, 0, 1), '2001::1:1:0:0:1');
});

test('IPv6 never compresses a single zero group (RFC 5952 4.2.2)', () => {
  assert.equal(formatV6(0x2001, 0xdb8, 0, 1, 1, 1, 1, 1), '2001:db8:0:1:1:1:1:1');
  assert.equal(formatV6(1, 0, 2, 0, 3, 0, 4, 0), '1:0:2:0:3:0:4:0');
});

test('IPv4-mapped IPv6 keeps the dotted tail', () => {
  assert.equal(formatV6(0, 0, 0, 0, 0, 0xffff, 0x7f00, 0x0001), '::ffff:127.0.0.1');
  assert.equal(formatV6(0, 0, 0, 0, 0, 0xffff, 0xc0a8, 0x0114), '::ffff:192.168.1.20');
});

test('almost-mapped addresses are plain IPv6', () => {
  assert.equal(formatV6(0, 0, 0, 0, 1, 0xffff, 0x7f00, 1), '::1:ffff:7f00:1');
  assert.equal(formatV6(0, 0, 0, 0, 0, 0xfffe, 0x7f00, 1), '::fffe:7f00:1');
});

test('IPv6 reads at the given offset', () => {
  const buf = field(v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x42), 32);
  assert.equal(formatAddress(buf, 32, AF_INET6), '2001:db8::42');
});

test('formatEndpoint brackets IPv6 only', () => {
  assert.equal(formatEndpoint('10.0.0.1', 443), '10.0.0.1:443');
  assert.equal(formatEndpoint('2001:db8::1', 443), '[2001:db8::1]:443');
  assert.equal(formatEndpoint('::', 0), '[::]:0');
  assert.equal(formatEndpoint('::ffff:127.0.0.1', 8080), '[::ffff:127.0.0.1]:8080');
});
