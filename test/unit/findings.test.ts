import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ServiceCloses } from '../../src/model/close-sides';
import { Culprit, CulpritReport } from '../../src/model/culprits';
import { SnapshotSocket } from '../../src/kernel/decoder';
import { diagnose, DoctorInput, Finding, twReuseCovers } from '../../src/model/findings';
import { Counters, HostSettings, SysctlName, SYSCTLS } from '../../src/host/settings';
import { buildSnapshotReport, ListenerRow } from '../../src/model/snapshot-report';
import { ResetSenders, ResetTally } from '../../src/model/resets';
import { FinishedConnection } from '../../src/model/tracker';
import { TCP } from '../../src/kernel/states';

const DEFAULT_SYSCTLS: Partial<Record<SysctlName, string>> = {
  'net.ipv4.tcp_tw_reuse': '2', 'net.ipv4.tcp_tw_reuse_delay': '1000', 'net.ipv4.tcp_fin_timeout': '60',
  'net.ipv4.tcp_max_tw_buckets': '131072', 'net.ipv4.tcp_timestamps': '1', 'net.ipv4.tcp_keepalive_time': '7200',
  'net.ipv4.tcp_keepalive_intvl': '75', 'net.ipv4.tcp_keepalive_probes': '9', 'net.ipv4.tcp_max_syn_backlog': '2048',
  'net.ipv4.tcp_syncookies': '1', 'net.ipv4.tcp_abort_on_overflow': '0', 'net.ipv4.ip_local_port_range': '32768\t60999',
  'net.ipv4.ip_local_reserved_ports': '', 'net.core.somaxconn': '4096',
};

function settings(over: Partial<Record<SysctlName, string | null>> = {}): HostSettings {
  const values = { ...DEFAULT_SYSCTLS, ...over };
  return {
    kernel: '6.18.0', netns: 4026531840, ephemeral: { low: 32768, high: 60999 }, reserved: [],
    sysctls: Object.fromEntries(SYSCTLS.map((name) => [name, values[name] ?? null])) as HostSettings['sysctls'],
  };
}

let nextSock = 1;
function sock(fields: Partial<SnapshotSocket> & Pick<SnapshotSocket, 'state'>): SnapshotSocket {
  const id = nextSock++;
  return { skaddr: `s${id}`, sockId: id, family: 4, saddr: '10.0.0.1', sport: 0, daddr: '0.0.0.0', dport: 0, netns: 1, uid: 0, inode: id, ...fields };
}

/** count TIME_WAIT sockets of this host's client towards daddr:dport. */
function clientTimeWait(count: number, daddr: string, dport: number, saddr = '10.0.0.1'): SnapshotSocket[] {
  return Array.from({ length: count }, (_, i) => sock({ state: TCP.TIME_WAIT, twSubstate: TCP.TIME_WAIT, saddr, sport: 32768 + i, daddr, dport }));
}

/** count TIME_WAIT sockets of this host's server on port 80, one per client port. */
function serverTimeWait(count: number): SnapshotSocket[] {
  return [sock({ state: TCP.LISTEN, saddr: '0.0.0.0', sport: 80 }),
    ...Array.from({ length: count }, (_, i) => sock({ state: TCP.TIME_WAIT, twSubstate: TCP.TIME_WAIT, sport: 80, daddr: '10.0.9.9', dport: 1024 + i }))];
}

function closes(over: Partial<ServiceCloses>): ServiceCloses {
  return {
    role: 'client', saddr: '10.0.0.1', port: 443, daddr: '10.0.0.7', opened: 0, peakPerSecond: 0, closed: 0,
    localFirst: 0, remoteFirst: 0, noFin: 0, closers: [], ...over,
  };
}

const NO_CULPRITS: CulpritReport = { culprits: [], sockets: 0, orphans: 0, observedMs: 5000 };

interface Case {
  sockets?: SnapshotSocket[];
  settings?: HostSettings;
  before?: Counters;
  after?: Counters;
  closes?: ServiceCloses[];
  culprits?: CulpritReport;
  listenersAtStart?: ListenerRow[];
  finished?: FinishedConnection[];
}

function resetsOf(finished: FinishedConnection[]): ResetSenders[] {
  const tally = new ResetTally();
  for (const c of finished) tally.finished(c);
  return tally.rows();
}

/** A connection of pid that ended with this RST. */
function endedBy(pid: number, reset: 'sent' | 'received', resetReason: string | null = null): FinishedConnection {
  return { pid, comm: `app${pid}`, reset, resetReason } as FinishedConnection;
}

function run(c: Case): Finding[] {
  const s = c.settings ?? settings();
  const input: DoctorInput = {
    observedMs: 5000, settings: s, countersBefore: c.before ?? {}, countersAfter: c.after ?? {},
    sockets: buildSnapshotReport({ snapshot: { sockets: c.sockets ?? [], files: [] }, netns: 1, ephemeral: s.ephemeral, reserved: s.reserved, cmdlineOf: () => '' }),
    listenersAtStart: c.listenersAtStart ?? [], closes: c.closes ?? [], culprits: c.culprits ?? NO_CULPRITS,
    resets: resetsOf(c.finished ?? []),
  };
  return diagnose(input);
}

const ids = (findings: Finding[]) => findings.map((f) => f.id);
const byId = (findings: Finding[], id: string) => {
  const found = findings.find((f) => f.id === id);
  assert.ok(found, `no ${id} in ${JSON.stringify(ids(findings))}`);
  return found;
};

test('a quiet host has no findings, and no setting is mentioned', () => {
  const findings = run({ sockets: [...clientTimeWait(10, '10.0.0.7', 443), sock({ state: TCP.LISTEN, sport: 22 })] });
  assert.deepEqual(findings, []);
});

test('client-side TIME_WAIT towards a remote destination, faster than 60 s of TIME_WAIT allows: a problem; tcp_tw_reuse=1 suggested', () => {
  const findings = run({
    sockets: clientTimeWait(20_000, '10.0.0.7', 443),
    closes: [closes({ opened: 2500, peakPerSecond: 900, closed: 2500, localFirst: 2500, closers: [{ pid: 4242, comm: 'curl', count: 2500 }] })],
  });
  const tw = byId(findings, 'time-wait');
  assert.equal(tw.severity, 'problem');
  assert.equal(tw.category, 'TIME_WAIT');
  assert.deepEqual([tw.data.side, tw.data.daddr, tw.data.port, tw.data.timeWait, tw.data.localFirst], ['client', '10.0.0.7', 443, 20_000, 2500]);
  assert.deepEqual(tw.data.closers, [{ pid: 4242, comm: 'curl', count: 2500 }]);
  assert.equal(tw.data.openedPerSecond, 500);
  assert.equal(tw.data.allowedPerSecond, 471, '28,232 ports / 60 s');
  assert.equal(tw.data.twReuseCovers, false, 'tcp_tw_reuse=2 covers loopback only');
  assert.match(tw.title, /20,000 TIME_WAIT sockets on the client side towards 10\.0\.0\.7:443/);
  assert.ok(tw.evidence.some((e) => /this host's client sent the first FIN in 2,500: pid 4242 curl x2,500/.test(e)), tw.evidence.join('\n'));
  assert.ok(tw.evidence.some((e) => /20,000 of 28,232 \(70\.8%/.test(e)));
  assert.ok(tw.evidence.some((e) => /closed first \(each leaves a TIME_WAIT socket\): 500\/s on average, of 500\/s new \(900 in the busiest second\); .* 471\/s/.test(e)), tw.evidence.join('\n'));
  assert.match(tw.action, /tcp_tw_reuse=1/);
  assert.match(tw.action, /ip_local_port_range \(now 32768-60999\)/);
  assert.deepEqual(tw.sysctls.map((s) => [s.name, s.value]), [['net.ipv4.tcp_tw_reuse', '2'], ['net.ipv4.ip_local_port_range', '32768\t60999']]);
  // The settings audit that this data supports: recycle is gone, fin_timeout does not help, tw_reuse is outgoing-only.
  assert.deepEqual(ids(findings).filter((id) => id.startsWith('sysctl:')).sort(),
    ['sysctl:net.ipv4.tcp_fin_timeout', 'sysctl:net.ipv4.tcp_tw_recycle', 'sysctl:net.ipv4.tcp_tw_reuse']);
  assert.match(byId(findings, 'sysctl:net.ipv4.tcp_tw_recycle').title, /does not exist on this kernel/);
  assert.ok(byId(findings, 'sysctl:net.ipv4.tcp_fin_timeout').evidence.some((e) => /TIME_WAIT lasts 60 s/.test(e)));
  assert.equal(findings[0].severity, 'problem', 'problems first');
});

test('the server closes first, the client holds a few TIME_WAIT: no client-side finding, whatever the rate of new connections', () => {
  // 1,203 connections ended in 5 s (240/s new, past half of the 471/s that 60 s of TIME_WAIT allows):
  // the peer sent the first FIN in 1,200 of them, this host's client in 3, which left these 3 sockets.
  const serverCloses = closes({ opened: 1203, peakPerSecond: 400, closed: 1203, localFirst: 3, remoteFirst: 1200, closers: [{ pid: 4242, comm: 'curl', count: 3 }] });
  const findings = run({ sockets: clientTimeWait(3, '10.0.0.7', 443), closes: [serverCloses] });
  assert.deepEqual(findings.filter((f) => f.category === 'TIME_WAIT'), [], JSON.stringify(findings.map((f) => f.title)));

  // Many left from before (the client closed first earlier): a finding, whose title agrees with its evidence.
  const tw = byId(run({ sockets: clientTimeWait(1500, '10.0.0.7', 443), closes: [serverCloses] }), 'time-wait');
  assert.doesNotMatch(tw.title, /client closes first/);
  assert.match(tw.title, /^1,500 TIME_WAIT sockets on the client side towards 10\.0\.0\.7:443 \(from 10\.0\.0\.1\): left by connections this host's client closed first, though the peer sent the first FIN in 1,200 of the 1,203 that ended while traced$/);
  assert.ok(tw.evidence.some((e) => /this host's client sent the first FIN in 3: pid 4242 curl x3; the peer in 1,200/.test(e)), tw.evidence.join('\n'));
  // The share is of the connections this side closed first (0.6/s), and the ports in use: a warning, not a problem.
  assert.equal(tw.data.closedFirstPerSecond, 0.6);
  assert.equal(tw.data.share, Math.round((1500 / 28_232) * 1000) / 1000);
  assert.equal(tw.severity, 'warning');
  assert.match(tw.action, /^The peer now closes most connections first/);
});

test('client-side TIME_WAIT on loopback, where tcp_tw_reuse=2 applies: a warning, and no sysctl to change', () => {
  const tw = byId(run({ sockets: clientTimeWait(5000, '127.0.0.1', 8080, '127.0.0.1') }), 'time-wait');
  assert.equal(tw.severity, 'warning');
  assert.equal(tw.data.twReuseCovers, true);
  assert.doesNotMatch(tw.action, /tcp_tw_reuse=1|ip_local_port_range/);
  assert.match(tw.action, /will not run out of ports/);
  assert.ok(tw.evidence.some((e) => /no such connection ended in the 5\.0 s observed/.test(e)));
});

test('tcp_tw_reuse needs timestamps: with them off, it covers nothing and is not suggested', () => {
  assert.equal(twReuseCovers(1, 0, '10.0.0.1', '10.0.0.7'), false);
  assert.equal(twReuseCovers(1, 1, '10.0.0.1', '10.0.0.7'), true);
  assert.equal(twReuseCovers(2, 1, '10.0.0.1', '127.0.0.1'), true, 'either end on loopback');
  assert.equal(twReuseCovers(0, 1, '127.0.0.1', '127.0.0.1'), false);
  const tw = byId(run({ sockets: clientTimeWait(27_000, '10.0.0.7', 443), settings: settings({ 'net.ipv4.tcp_timestamps': '0' }) }), 'time-wait');
  assert.equal(tw.severity, 'problem');
  assert.doesNotMatch(tw.action, /tcp_tw_reuse=1/);
  assert.match(tw.action, /ip_local_port_range/);
});

test('server-side TIME_WAIT: a note; tcp_tw_reuse cannot help and no ephemeral port is at stake', () => {
  const findings = run({
    sockets: serverTimeWait(3000),
    closes: [closes({ role: 'server', saddr: '10.0.0.1', port: 80, daddr: null, opened: 600, closed: 600, localFirst: 600, closers: [{ pid: 77, comm: 'nginx', count: 600 }] })],
  });
  const tw = byId(findings, 'time-wait');
  assert.equal(tw.severity, 'note');
  assert.deepEqual([tw.data.side, tw.data.saddr, tw.data.port, tw.data.timeWait], ['server', '10.0.0.1', 80, 3000]);
  assert.match(tw.title, /server side of 10\.0\.0\.1:80: this server closes first/);
  assert.ok(tw.evidence.some((e) => /this host's server sent the first FIN in 600: pid 77 nginx x600/.test(e)));
  assert.match(tw.action, /tcp_tw_reuse does not apply/);
  assert.match(byId(findings, 'sysctl:net.ipv4.tcp_tw_reuse').action, /cannot help here/);
});

test('more than five services with TIME_WAIT: five findings and one note for the rest', () => {
  const sockets = Array.from({ length: 8 }, (_, i) => clientTimeWait(1500 - i, `10.0.1.${i}`, 443)).flat();
  const findings = run({ sockets });
  assert.equal(ids(findings).filter((id) => id === 'time-wait').length, 5);
  const more = byId(findings, 'time-wait-more');
  assert.equal(more.data.services, 3);
  assert.match(byId(findings, 'sysctl:net.ipv4.tcp_tw_reuse').evidence[0], /5 on the client side/);
});

test('tcp_tw_recycle still set on an old kernel: a problem, whatever the TIME_WAIT', () => {
  const f = byId(run({ settings: settings({ 'net.ipv4.tcp_tw_recycle': '1' }) }), 'sysctl:net.ipv4.tcp_tw_recycle');
  assert.equal(f.severity, 'problem');
  assert.deepEqual(f.sysctls, [{ name: 'net.ipv4.tcp_tw_recycle', value: '1' }]);
  assert.match(f.action, /Set it to 0/);
});

test('tcp_fin_timeout lowered with TIME_WAIT about: corrected even below the TIME_WAIT threshold', () => {
  const sockets = [...clientTimeWait(50, '10.0.0.7', 443), sock({ state: TCP.TIME_WAIT, twSubstate: TCP.FIN_WAIT2, sport: 40000, daddr: '10.0.0.7', dport: 443 })];
  const findings = run({ sockets, settings: settings({ 'net.ipv4.tcp_fin_timeout': '15' }) });
  assert.deepEqual(ids(findings), ['sysctl:net.ipv4.tcp_fin_timeout']);
  const f = findings[0];
  assert.match(f.title, /tcp_fin_timeout = 15 does not shorten TIME_WAIT/);
  assert.match(f.action, /changed from 60/);
  assert.ok(f.evidence.includes('1 orphaned FIN_WAIT2 socket(s) now: the only ones tcp_fin_timeout bounds'));
});

test('timewait overflow during the observation: a problem naming tcp_max_tw_buckets', () => {
  const findings = run({
    sockets: clientTimeWait(100, '10.0.0.7', 443), settings: settings({ 'net.ipv4.tcp_max_tw_buckets': '100' }),
    before: { 'TcpExt.TCPTimeWaitOverflow': 40 }, after: { 'TcpExt.TCPTimeWaitOverflow': 52 },
  });
  const f = byId(findings, 'time-wait-buckets');
  assert.equal(f.severity, 'problem');
  assert.deepEqual(f.data, { timewaitSockets: 100, max: 100, overflowDuringObservation: 12, overflowSinceBoot: 52 });
  assert.match(f.action, /raise net\.ipv4\.tcp_max_tw_buckets/);
});

test('overflows only before the observation, far from the limit: nothing', () => {
  assert.deepEqual(run({ before: { 'TcpExt.TCPTimeWaitOverflow': 9, 'TcpExt.ListenOverflows': 4 }, after: { 'TcpExt.TCPTimeWaitOverflow': 9, 'TcpExt.ListenOverflows': 4 } }), []);
});

function culprit(pid: number, count: number): Culprit {
  return {
    pid, comm: 'node', cmdline: `node pool.js ${pid}`, cgroup: null, container: null, count, oldestAgeMs: 4200, medianAgeMs: 3000, ageIsLowerBound: false,
    sockets: [],
    groups: [{ side: 'client', saddr: '10.0.0.1', sport: null, daddr: '10.0.0.7', dport: 8080, count, oldestAgeMs: 4200, medianAgeMs: 3000, ageIsLowerBound: false, idleBeforeFinMs: 5000 }],
    advice: ['peer 10.0.0.7:8080 closes idle connections after ~5.0 s; evict idle connections before 5.0 s'],
    netns: [1],
  };
}

test('CLOSE_WAIT: the culprits in brief, the cure in the program, and keepalive corrected', () => {
  const culprits: CulpritReport = { culprits: [culprit(31, 12), culprit(32, 3), culprit(33, 2), culprit(34, 1)], sockets: 18, orphans: 1, observedMs: 5000 };
  const findings = run({ culprits, sockets: [sock({ state: TCP.CLOSE_WAIT, sport: 40000, daddr: '10.0.0.7', dport: 8080 })] });
  const f = byId(findings, 'close-wait');
  assert.equal(f.severity, 'problem');
  assert.deepEqual(f.sysctls, [], 'no setting cures CLOSE_WAIT');
  assert.deepEqual((f.data.culprits as { pid: number }[]).map((c) => c.pid), [31, 32, 33, 34]);
  assert.equal(f.evidence.length, 5, 'three culprits, the rest counted, the orphans');
  assert.match(f.evidence[0], /pid 31 \(node pool\.js 31\): 12 in CLOSE_WAIT, oldest 4\.2 s; 10\.0\.0\.1 -> 10\.0\.0\.7:8080 x12$/);
  assert.match(f.action, /pid 31: peer 10\.0\.0\.7:8080 closes idle connections/);
  const k = byId(findings, 'sysctl:net.ipv4.tcp_keepalive_time');
  assert.match(k.title, /tcp_keepalive_time = 7200 s will not free CLOSE_WAIT/);
  assert.ok(k.evidence.some((e) => /every 75 s, 9 times, and only on sockets with SO_KEEPALIVE/.test(e)));
});

const listener = (over: Partial<ListenerRow>): ListenerRow =>
  ({ saddr: '0.0.0.0', sport: 8080, pid: 55, comm: 'server', acceptQueue: 0, acceptQueueLimit: 128, listenDrops: 0, ...over });

test('listen overflows with the queue capped by somaxconn: raise somaxconn and the backlog', () => {
  const f = byId(run({
    settings: settings({ 'net.core.somaxconn': '128' }),
    before: { 'TcpExt.ListenOverflows': 10, 'TcpExt.ListenDrops': 10 }, after: { 'TcpExt.ListenOverflows': 35, 'TcpExt.ListenDrops': 35 },
    listenersAtStart: [listener({ acceptQueue: 129 })],
  }), 'listen-overflows');
  assert.equal(f.severity, 'problem');
  assert.deepEqual([f.data.listenOverflows, f.data.listenDrops], [25, 25]);
  assert.ok(f.evidence.some((e) => e === '0.0.0.0:8080 (pid 55 server): accept queue 129/128'), f.evidence.join('\n'));
  assert.match(f.action, /0\.0\.0\.0:8080: the queue limit is net\.core\.somaxconn \(128\); raise it together with the backlog/);
  assert.match(f.action, /tcp_max_syn_backlog \(2048\) sizes the SYN queue, not this accept queue/);
});

test('listen overflows with a small listen() backlog: raising somaxconn changes nothing', () => {
  const sockets = [sock({ state: TCP.LISTEN, saddr: '127.0.0.1', sport: 9000, acceptQueue: 6, acceptQueueLimit: 5 })];
  const f = byId(run({ sockets, before: { 'TcpExt.ListenOverflows': 0 }, after: { 'TcpExt.ListenOverflows': 3 } }), 'listen-overflows');
  assert.match(f.action, /127\.0\.0\.1:9000 \(limit 5\): the program's own listen\(\) backlog is the limit, below net\.core\.somaxconn \(4096\), so raising somaxconn changes nothing/);
  assert.doesNotMatch(f.action, /raise it together/);
});

test('listen overflows with no full queue seen: said so', () => {
  const f = byId(run({ before: {}, after: { 'TcpExt.ListenOverflows': 2 }, listenersAtStart: [listener({ acceptQueue: 3 })] }), 'listen-overflows');
  assert.ok(f.evidence.some((e) => /no listener of this namespace dropped while observed or was seen with a full queue/.test(e)));
});

test('listen overflows: each listener that dropped while observed, by its own kernel count, most first', () => {
  const sockets = [
    sock({ state: TCP.LISTEN, saddr: '127.0.0.1', sport: 9000, acceptQueue: 0, acceptQueueLimit: 5, listenDrops: 35 }),
    sock({ state: TCP.LISTEN, saddr: '127.0.0.1', sport: 9001, acceptQueue: 0, acceptQueueLimit: 5, listenDrops: 4 }),
    sock({ state: TCP.LISTEN, saddr: '127.0.0.1', sport: 9002, acceptQueue: 0, acceptQueueLimit: 5, listenDrops: 7 }),
  ];
  const f = byId(run({
    sockets, before: { 'TcpExt.ListenOverflows': 0 }, after: { 'TcpExt.ListenOverflows': 29 },
    listenersAtStart: [listener({ saddr: '127.0.0.1', sport: 9000, listenDrops: 10 }), listener({ saddr: '127.0.0.1', sport: 9002, listenDrops: 7 })],
  }), 'listen-overflows');
  const lines = f.evidence.filter((e) => e.startsWith('127.0.0.1:'));
  assert.deepEqual(lines.map((e) => e.replace(/ \(pid.*\):/, ':')), [
    '127.0.0.1:9000: dropped 25 while observed, accept queue 0/5',
    '127.0.0.1:9001: dropped 4 while observed, accept queue 0/5',
  ], 'begun listening meanwhile: all its drops count; no new drop: not listed');
  assert.match(f.action, /127\.0\.0\.1:9000 \(limit 5\), 127\.0\.0\.1:9001 \(limit 5\): the program's own listen\(\) backlog is the limit/);
});

test('SYN queue drops with cookies off: turn cookies on', () => {
  const f = byId(run({ settings: settings({ 'net.ipv4.tcp_syncookies': '0' }), before: {}, after: { 'TcpExt.TCPReqQFullDrop': 7 } }), 'syn-queue');
  assert.equal(f.severity, 'problem');
  assert.match(f.action, /tcp_syncookies=1/);
  const cookies = byId(run({ before: {}, after: { 'TcpExt.TCPReqQFullDoCookies': 7 } }), 'syn-queue');
  assert.equal(cookies.severity, 'warning');
});

test('every finding carries evidence, an action, and the value of each setting it names', () => {
  const findings = run({
    sockets: [...clientTimeWait(20_000, '10.0.0.7', 443), ...serverTimeWait(2000)],
    settings: settings({ 'net.ipv4.tcp_fin_timeout': '10', 'net.ipv4.tcp_syncookies': '0' }),
    before: {}, after: { 'TcpExt.ListenOverflows': 1, 'TcpExt.TCPReqQFullDrop': 1, 'TcpExt.TCPTimeWaitOverflow': 1 },
    culprits: { culprits: [culprit(31, 2)], sockets: 2, orphans: 0, observedMs: 5000 },
  });
  assert.ok(findings.length >= 9, ids(findings).join(', '));
  for (const f of findings) {
    assert.ok(f.evidence.length > 0 && f.action.length > 0, f.id);
    for (const s of f.sysctls) assert.ok(f.title.includes(s.name.split('.').pop()!) || f.action.includes(s.name.split('.').pop()!) ||
      f.evidence.some((e) => e.includes(s.name.split('.').pop()!)), `${f.id} names ${s.name}`);
  }
});

test('resets: one finding per process that sent RSTs, its main reason in words, most first; received ones as evidence only', () => {
  const finished = [
    ...Array.from({ length: 3 }, () => endedBy(10, 'sent', 'TCP_ABORT_ON_CLOSE')),
    endedBy(10, 'sent', 'TCP_STATE'), endedBy(10, 'received'),
    ...Array.from({ length: 5 }, () => endedBy(20, 'sent', null)),
    endedBy(30, 'received'),
  ];
  const found = run({ finished }).filter((f) => f.id === 'resets');
  assert.deepEqual(found.map((f) => f.title), ['pid 20 (app20) sent 5 reset(s)', 'pid 10 (app10) sent 4 reset(s): it closed connections with data it had not read']);
  assert.deepEqual(found[1].evidence, [
    "3 RST(s) sent, the kernel's reason: TCP_ABORT_ON_CLOSE", "1 RST(s) sent, the kernel's reason: TCP_STATE", '1 RST(s) received by its connections',
  ]);
  assert.deepEqual(found[0].evidence, ["5 RST(s) sent, the kernel's reason: not known"]);
  assert.ok(found.every((f) => f.category === 'resets' && f.severity === 'warning'));
});
