import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatEndpoint } from '../../src/kernel/addr';
import { Clock } from '../../src/kernel/clock';
import { TransitionEvent } from '../../src/kernel/decoder';
import { eventJson, eventJsonLine, lostJsonLine } from '../../src/format/event-json';
import { endpointWidth, eventHeader, eventLine } from '../../src/format/event-text';
import { msColumn as formatMs } from '../../src/units';
import { CgroupTable } from '../../src/host/cgroups';
import { ExtraColumns } from '../../src/format/extra-columns';
import { TCP } from '../../src/kernel/states';

const CONTAINER_ID = '3f2a9c1b7d2e'.padEnd(64, 'c');
const cgroups = new CgroupTable();
cgroups.add(4242, `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1_2.slice/cri-containerd-${CONTAINER_ID}.scope`);

// Monotonic 0 is this wall-clock instant; the event below is 5000.123456789 s later.
const WALL_OFFSET_MS = 1_700_000_000_000;
const clock = new Clock(WALL_OFFSET_MS);
const EVENT_WALL_MS = 1_700_005_000_123.457; // rounded to the microsecond

/** "HH:MM:SS.mmm" of a wall-clock millisecond instant, in this process's time zone. */
function localTimeOfDay(ms: number): string {
  const d = new Date(Math.floor(ms));
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

const EVENT: TransitionEvent = {
  tsNs: 5_000_123_456_789,
  skaddr: 'ffff88810a879380',
  sockId: 4294967303,
  family: 4,
  saddr: '10.0.0.1',
  sport: 43210,
  daddr: '192.168.1.20',
  dport: 443,
  netns: 4026531840,
  oldstate: TCP.ESTABLISHED,
  newstate: TCP.CLOSE_WAIT,
  prevStateNs: 1_234_567,
  pid: 4321,
  comm: 'curl',
  cgroupId: 4242,
  ownerSource: 'syscall',
  inferred: false,
  kind: 'transition',
  txBytes: 0,
  rxBytes: 0,
  error: 0,
  peerFinReceived: false,
  idleNs: null,
};

const ANONYMOUS: TransitionEvent = {
  ...EVENT,
  family: 6,
  saddr: '2001:db8::1',
  sport: 8080,
  daddr: '::ffff:127.0.0.1',
  dport: 5555,
  oldstate: TCP.SYN_RECV,
  newstate: TCP.ESTABLISHED,
  prevStateNs: null,
  pid: null,
  comm: null,
  cgroupId: null,
  ownerSource: null,
};

// ---- clock ----------------------------------------------------------------

test('Clock maps monotonic ns to wall ms rounded to the microsecond', () => {
  assert.equal(clock.wallMs(EVENT.tsNs), EVENT_WALL_MS);
  assert.equal(clock.wallMs(0), WALL_OFFSET_MS);
  const zero = new Clock(0);
  assert.equal(zero.wallMs(1_499), 0.001); // 1.499 us -> 1 us
  assert.equal(zero.wallMs(2_500_000), 2.5);
  assert.equal(clock.timeOfDay(EVENT.tsNs), localTimeOfDay(EVENT_WALL_MS));
  assert.match(clock.timeOfDay(EVENT.tsNs), /^\d\d:\d\d:\d\d\.123$/);
});

// ---- text lines --------------------------------------------------------------

test('formatMs: nanoseconds as milliseconds with three decimals, unknown as "-"', () => {
  assert.equal(formatMs(null), '-');
  assert.equal(formatMs(1_234_567), '1.235');
  assert.equal(formatMs(5_000_000_000), '5000.000');
  assert.equal(formatMs(400), '0.000');
});

test('endpoint widths fit the widest IPv4 and IPv6 endpoints', () => {
  assert.equal(endpointWidth(false), formatEndpoint('255.255.255.255', 65535).length);
  assert.equal(endpointWidth(true), formatEndpoint('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 65535).length);
  assert.equal(endpointWidth(false), 21);
  assert.equal(endpointWidth(true), 47);
});

test('eventLine: a known event gives the exact line', () => {
  const expected = [
    localTimeOfDay(EVENT_WALL_MS),
    '   4321',
    'curl           ',
    '10.0.0.1:43210       ',
    '192.168.1.20:443     ',
    'ESTABLISHED',
    '-> CLOSE_WAIT ',
    '     1.235',
  ].join(' ');
  assert.equal(eventLine(EVENT, clock, 21), expected);
});

test('eventLine: unknown owner and age are "-"; IPv6 in brackets', () => {
  const expected = [
    localTimeOfDay(EVENT_WALL_MS),
    '      -',
    '-              ',
    '[2001:db8::1]:8080'.padEnd(47),
    '[::ffff:127.0.0.1]:5555'.padEnd(47),
    'SYN_RECV   ',
    '-> ESTABLISHED',
    '         -',
  ].join(' ');
  assert.equal(eventLine(ANONYMOUS, clock, 47), expected);
});

test('eventLine columns line up under eventHeader', () => {
  const header = eventHeader(21);
  const line = eventLine(EVENT, clock, 21);
  assert.equal(header.indexOf('LADDR:LPORT'), line.indexOf('10.0.0.1:43210'));
  assert.equal(header.indexOf('RADDR:RPORT'), line.indexOf('192.168.1.20:443'));
  assert.equal(header.indexOf('OLDSTATE'), line.indexOf('ESTABLISHED'));
  assert.equal(header.indexOf('NEWSTATE'), line.indexOf('CLOSE_WAIT'));
  assert.equal(header.indexOf('COMM'), line.indexOf('curl'));
  assert.equal(header.indexOf('PID') + 'PID'.length, line.indexOf('4321') + '4321'.length);
  assert.equal(header.length, line.length); // MS and the age both end the line
  assert.ok(header.startsWith('TIME '));
});

test('CONTAINER and NETNS columns: after COMM, lined up under their headers, "-" without a container', () => {
  const extra = new ExtraColumns(cgroups, true);
  const header = eventHeader(21, extra);
  const line = eventLine(EVENT, clock, 21, extra);
  const other = eventLine({ ...EVENT, cgroupId: 99, netns: 4026532177 }, clock, 21, extra);
  assert.match(header, /^TIME +PID COMM +CONTAINER +NETNS LADDR:LPORT /);
  assert.equal(header.indexOf('CONTAINER'), line.indexOf('3f2a9c1b7d2e'));
  assert.equal(header.indexOf('NETNS') + 'NETNS'.length, line.indexOf('4026531840') + 10);
  assert.deepEqual(other.split(/\s+/).slice(1, 6), ['4321', 'curl', '-', '4026532177', '10.0.0.1:43210']);
  assert.equal(header.indexOf('LADDR:LPORT'), line.indexOf('10.0.0.1:43210'));
  assert.equal(header.length, line.length);
  // None: the line is the plain one.
  assert.equal(eventLine(EVENT, clock, 21, ExtraColumns.none()), eventLine(EVENT, clock, 21));
});

test('ExtraColumns.choose: CONTAINER when a holder at start is in a container or --cgroup names one; NETNS for several --netns', () => {
  const noHolders: { cgroupId: number; pid: number }[] = [];
  const header = (x: ExtraColumns) => x.header().map((h) => h.trim());
  assert.deepEqual(header(ExtraColumns.choose(cgroups, noHolders, {})), []);
  assert.deepEqual(header(ExtraColumns.choose(cgroups, [{ cgroupId: 1, pid: 5 }], {})), []);
  assert.deepEqual(header(ExtraColumns.choose(cgroups, [{ cgroupId: 1, pid: 5 }, { cgroupId: 4242, pid: 6 }], {})), ['CONTAINER']);
  assert.deepEqual(header(ExtraColumns.choose(cgroups, noHolders, { cgroup: `/docker/${CONTAINER_ID}` })), ['CONTAINER']);
  assert.deepEqual(header(ExtraColumns.choose(cgroups, noHolders, { cgroup: '/system.slice' })), []);
  assert.deepEqual(header(ExtraColumns.choose(cgroups, noHolders, { netns: [1] })), []);
  assert.deepEqual(header(ExtraColumns.choose(cgroups, noHolders, { netns: [1, 2] })), ['NETNS']);
});

// ---- JSON -----------------------------------------------------------------

test('eventJson: a known event gives the exact object, keys in order', () => {
  const json = eventJson(EVENT, clock, cgroups);
  assert.deepEqual(json, {
    ts: EVENT_WALL_MS,
    sk: 4294967303,
    skaddr: 'ffff88810a879380',
    family: 4,
    saddr: '10.0.0.1',
    sport: 43210,
    daddr: '192.168.1.20',
    dport: 443,
    oldstate: 'ESTABLISHED',
    newstate: 'CLOSE_WAIT',
    pid: 4321,
    comm: 'curl',
    ownerSource: 'syscall',
    prevStateMs: 1.235,
    netns: 4026531840,
    cgroupId: 4242,
    cgroup: `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1_2.slice/cri-containerd-${CONTAINER_ID}.scope`,
    container: '3f2a9c1b7d2e',
    reset: null,
    resetReason: null,
    inferred: false,
  });
  assert.deepEqual(Object.keys(json), [
    'ts', 'sk', 'skaddr', 'family', 'saddr', 'sport', 'daddr', 'dport',
    'oldstate', 'newstate', 'pid', 'comm', 'ownerSource', 'prevStateMs', 'netns', 'cgroupId', 'cgroup', 'container', 'reset', 'resetReason', 'inferred',
  ]);
});

test('an inferred transition is marked: "*" after the new state, inferred: true in JSON', () => {
  const inferred = { ...EVENT, inferred: true };
  assert.match(eventLine(inferred, clock, 21), / -> CLOSE_WAIT\* /);
  assert.doesNotMatch(eventLine(EVENT, clock, 21), /\*/);
  assert.equal(eventJson(inferred, clock, cgroups).inferred, true);
});

test('eventJson: unknown owner and age are null', () => {
  const json = eventJson(ANONYMOUS, clock, cgroups);
  assert.equal(json.pid, null);
  assert.equal(json.comm, null);
  assert.equal(json.ownerSource, null);
  assert.equal(json.prevStateMs, null);
  assert.deepEqual([json.cgroupId, json.cgroup, json.container], [null, null, null]);
  assert.equal(json.family, 6);
  assert.equal(json.daddr, '::ffff:127.0.0.1');
  assert.equal(json.oldstate, 'SYN_RECV');
});

test('eventJson: prevStateMs is rounded to the microsecond', () => {
  const ms = (prevStateNs: number) => eventJson({ ...EVENT, prevStateNs }, clock, cgroups).prevStateMs;
  assert.equal(ms(1_234_567), 1.235);
  assert.equal(ms(1_234_499), 1.234);
  assert.equal(ms(1), 0);
  assert.equal(ms(999_999_999_999), 1_000_000);
  assert.equal(ms(60_000_000_000), 60_000);
});

test('eventJson: unnamed state numbers print as STATE_n', () => {
  assert.equal(eventJson({ ...EVENT, newstate: 42 }, clock, cgroups).newstate, 'STATE_42');
});

test('eventJsonLine is one line of valid JSON that round-trips odd comms', () => {
  const comm = 'a"b\\c\u0001\n\t';
  const line = eventJsonLine({ ...EVENT, comm }, clock, cgroups);
  assert.ok(!line.includes('\n'));
  const parsed = JSON.parse(line);
  assert.equal(parsed.comm, comm);
  assert.deepEqual(parsed, { ...eventJson(EVENT, clock, cgroups), comm });
});

test('eventJsonLine is exactly JSON.stringify(eventJson(...)), whatever the event holds', () => {
  const variants: TransitionEvent[] = [
    EVENT, ANONYMOUS,
    { ...EVENT, prevStateNs: null, inferred: true, newstate: 42 },
    { ...EVENT, prevStateNs: 1, tsNs: 0, sockId: 0, pid: 0, comm: '' },
    { ...EVENT, comm: 'tab\there "q" \\ \u2028 \u007f é', ownerSource: 'listener' },
    { ...EVENT, ownerSource: 'snapshot', prevStateNs: 123_456_789_012, netns: 4294967295 },
    { ...EVENT, cgroupId: 4243 }, // a cgroup path that needs escaping
    { ...EVENT, cgroupId: 999_999 }, // not known to the table
  ];
  const odd = new CgroupTable();
  odd.add(4242, cgroups.pathOf(4242)!);
  odd.add(4243, '/system.slice/we"ird\\name\u0001.service');
  for (const e of variants) assert.equal(eventJsonLine(e, clock, odd), JSON.stringify(eventJson(e, clock, odd)));
});

test('lostJsonLine', () => {
  assert.equal(lostJsonLine(17), '{"lost":17}');
});
