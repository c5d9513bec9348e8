/**
 * export --jsonl's encoder (native/jsonl.cc, through src/export/jsonl.ts)
 * writes, for every record, exactly the line `live --json` prints for it:
 * eventJsonLine of the decoded event, byte for byte.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CgroupTable } from '../../src/host/cgroups';
import { Clock } from '../../src/kernel/clock';
import { decodeEvent, EVENT_LAYOUT } from '../../src/kernel/decoder';
import { AF_INET6 } from '../../src/kernel/states';
import { eventJsonLine } from '../../src/format/event-json';
import { JsonlEncoder } from '../../src/export/jsonl';
import { eventRecord, RecordFields, stormRecords } from './records';

const CONTAINER = 'docker-4f3c9b2a81d7e1f0aa55bb66cc77dd88ee99ff00112233445566778899aabbcc.scope';

const CASES: [string, RecordFields][] = [
  ['a plain IPv4 transition', {}],
  ['IPv6, and IPv4 mapped into IPv6', { saddr: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], daddr: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1] }],
  ['IPv6 with no zero run and with two', { family: AF_INET6, saddr: [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8], daddr: [0xfe, 0x80, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0] }],
  ['no owner known', { ownerSrc: 0, pid: 77, comm: 'stale', cgroup: 9n }],
  ['an owner source this version does not know', { ownerSrc: 9 }],
  ['a command name of all 16 bytes, no NUL', { comm: 'abcdefghijklmnop' }],
  ['a command name JSON must escape', { comm: Buffer.from('a"b\\c\nd\te\x01f\x7f') }],
  ['a command name in UTF-8, and one cut inside a character', { comm: Buffer.from('pythön-wörkér\xc3', 'latin1') }],
  ['invalid UTF-8 of every kind', { comm: Buffer.from([0x61, 0xc0, 0xe0, 0x80, 0xed, 0xa0, 0x80, 0xf4, 0x90, 0xf0, 0x9f, 0x98, 0x80, 0xff, 0x62]) }],
  ['a time and a dwell that need every decimal, none, or a few', { ts: 5_000_123_456_789n, prevNs: 1_234_567n }],
  ['round thousandths', { ts: 5_000_000_000_000n, prevNs: 1_500_000n }],
  ['a dwell that rounds up to a whole ms', { prevNs: 999_999_500n }],
  ['a named cgroup, and a container', { cgroup: 7263n }],
  ['a cgroup with no known path', { cgroup: 12345n }],
  ['inferred, a reset', { flags: 1, err: 104, peerFin: 1 }],
  ['an accept: no line, as live --json prints none', { kind: 1 }],
  ['addresses that are not the kernel\'s', { skaddr: 0x12n }],
  ['a small non-kernel address', { skaddr: 0x1_0000_00abn }],
  ['large ids and ports', { sockId: 0x1f_ffff_ffff_ffffn, netns: 4294967295, pid: 4294967295, sport: 65535, dport: 0, oldstate: 13, newstate: 200 }],
];

function encoderFor(wallOffsetMs: number): { encoder: JsonlEncoder; clock: Clock; cgroups: CgroupTable } {
  const clock = new Clock(wallOffsetMs);
  const cgroups = new CgroupTable();
  const encoder = new JsonlEncoder(clock);
  for (const [id, path] of [[7263, `/system.slice/${CONTAINER}`], [1, '/']] as const) {
    cgroups.add(id, path);
    encoder.nameCgroup(id, path, cgroups.containerOf(id));
  }
  return { encoder, clock, cgroups };
}

function expected(records: Buffer, clock: Clock, cgroups: CgroupTable): string {
  let text = '';
  for (let at = 0; at < records.length; at += EVENT_LAYOUT.size) {
    const e = decodeEvent(records, at);
    if (e.kind === 'transition') text += `${eventJsonLine(e, clock, cgroups)}\n`;
  }
  return text;
}

for (const wallOffsetMs of [1_796_000_000_000.123, 1_700_000_000_000, 0]) {
  test(`every kind of record: the line live --json prints for it (wall-clock offset ${wallOffsetMs})`, () => {
    const { encoder, clock, cgroups } = encoderFor(wallOffsetMs);
    for (const [name, fields] of CASES) {
      const record = eventRecord(fields);
      assert.equal(encoder.encode(record).toString(), expected(record, clock, cgroups), name);
    }
  });
}

test('a storm\'s records, many at once, times and dwell in every form: the same lines', () => {
  const { encoder, clock, cgroups } = encoderFor(1_796_416_803_756.5341);
  const records = Buffer.concat([stormRecords(30_000, 3), eventRecord({ kind: 1 })]);
  const got = encoder.encode(records).toString();
  assert.equal(got, expected(records, clock, cgroups));
  assert.equal(got.split('\n').length, 30_001, 'one line per transition, none for the accept');
});
