/**
 * A server leaking CLOSE_WAIT at scale, the commonest case: 1,000 sockets on
 * one listening port from three client hosts, each on its own ephemeral
 * port, held by a JVM with an 80 KB command line. culprits, doctor and the
 * HTML report must each fit one screen and name the service, the holder and
 * the three hosts; the JSON keeps every socket.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderHtmlReport } from '../../src/export/html';
import { renderCulprits } from '../../src/format/culprits';
import { renderDoctor } from '../../src/format/doctor';
import { CgroupTable } from '../../src/host/cgroups';
import { HostSettings, SYSCTLS } from '../../src/host/settings';
import { SnapshotFile, SnapshotSocket, TransitionEvent } from '../../src/kernel/decoder';
import { TCP } from '../../src/kernel/states';
import { buildCulpritReport, CloseWaitLog, CulpritReport } from '../../src/model/culprits';
import { diagnose } from '../../src/model/findings';
import { LatencySet } from '../../src/model/latency';
import { buildSnapshotReport } from '../../src/model/snapshot-report';
import { ConnectionTracker } from '../../src/model/tracker';

const SEC = 1e9;
const START = 1000 * SEC;
const NOW = START + 10 * SEC;
const PID = 4242;
const CMDLINE = `java ${'-Dsome.long.property=value '.repeat(3000)}-jar app.jar`;
const HOSTS = ['10.1.0.1', '10.1.0.2', '10.1.0.3'];
const PER_HOST = [500, 300, 200];

/** The listener on 10.0.0.5:8080 and 1,000 accepted sockets in CLOSE_WAIT, 3 s idle before each client's FIN. */
function leak(): { sockets: SnapshotSocket[]; files: SnapshotFile[]; events: TransitionEvent[] } {
  const sockets: SnapshotSocket[] = [{
    skaddr: 'l', sockId: 1, family: 4, saddr: '10.0.0.5', sport: 8080, daddr: '0.0.0.0', dport: 0, netns: 1, uid: 0, inode: 1, state: TCP.LISTEN,
  }];
  const files: SnapshotFile[] = [{ skaddr: 'l', sockId: 1, pid: PID, fd: 3, comm: 'java', cgroupId: 0 }];
  const events: TransitionEvent[] = [];
  let id = 2;
  HOSTS.forEach((daddr, h) => {
    for (let i = 0; i < PER_HOST[h]; i++, id++) {
      const ends = { skaddr: `s${id}`, sockId: id, family: 4 as const, saddr: '10.0.0.5', sport: 8080, daddr, dport: 33_000 + i, netns: 1 };
      sockets.push({ ...ends, uid: 0, inode: id, state: TCP.CLOSE_WAIT });
      files.push({ skaddr: ends.skaddr, sockId: id, pid: PID, fd: 10 + id, comm: 'java', cgroupId: 0, cmdline: CMDLINE });
      events.push({
        ...ends, kind: 'transition', tsNs: START + (h + 1) * SEC + i * 1000, oldstate: TCP.ESTABLISHED, newstate: TCP.CLOSE_WAIT,
        prevStateNs: null, pid: null, comm: null, cgroupId: null, ownerSource: null, inferred: false,
        txBytes: 0, rxBytes: 0, error: 0, peerFinReceived: true, idleNs: 3 * SEC,
      });
    }
  });
  return { sockets, files, events };
}

function culpritReport(): CulpritReport {
  const { sockets, files, events } = leak();
  const log = new CloseWaitLog();
  log.apply(events);
  return buildCulpritReport({
    snapshot: { sockets, files }, log, tracker: new ConnectionTracker(), nowNs: NOW, startedNs: START,
    cmdlineOf: () => 'unused', cgroups: new CgroupTable(),
  });
}

const SCREEN = { width: 80, height: 24 };

function assertFits(lines: string[], what: string): void {
  const wide = lines.filter((l) => l.length > SCREEN.width);
  assert.deepEqual(wide, [], `${what}: lines wider than ${SCREEN.width}`);
  assert.ok(lines.length <= SCREEN.height, `${what}: ${lines.length} lines:\n${lines.join('\n')}`);
}

test('culprits: one group per service and client host, with counts, ages and idle before FIN', () => {
  const r = culpritReport();
  assert.equal(r.culprits.length, 1);
  const [c] = r.culprits;
  assert.equal(c.count, 1000);
  assert.deepEqual(c.groups.map((g) => [g.side, g.saddr, g.sport, g.daddr, g.dport, g.count, g.oldestAgeMs, g.idleBeforeFinMs]), [
    ['server', '10.0.0.5', 8080, '10.1.0.1', null, 500, 9000, 3000],
    ['server', '10.0.0.5', 8080, '10.1.0.2', null, 300, 8000, 3000],
    ['server', '10.0.0.5', 8080, '10.1.0.3', null, 200, 7000, 3000],
  ]);
  // One piece of advice for the one service, not one per client port.
  assert.deepEqual(c.advice, [
    'clients of 10.0.0.5:8080 (3 host(s)) close idle connections after ~3.0 s; this process keeps them open after their FIN: ' +
    'close() a connection once a read returns end-of-file, or close idle connections itself before 3.0 s',
  ]);
  // The JSON keeps every socket.
  const json = JSON.parse(JSON.stringify(r));
  assert.equal(json.culprits[0].sockets.length, 1000);
  assert.equal(json.culprits[0].cmdline, CMDLINE);
});

test('culprits text at 80x24: fits, and names the holder, the service and the three hosts', () => {
  const lines = renderCulprits(culpritReport(), { top: 5, width: SCREEN.width });
  assertFits(lines, 'culprits');
  const text = lines.join('\n');
  assert.match(text, /^PID 4242  java -Dsome\.long\.property=value .*\.\.\.$/m);
  for (const [i, host] of HOSTS.entries()) {
    assert.match(text, new RegExp(`^  server  10\\.0\\.0\\.5:8080  ${host.replace(/\./g, '\\.')} +${PER_HOST[i]} `, 'm'));
  }
  assert.match(text, /^  \.\.\. 995 more socket\(s\) \(--top shows more, --json lists all\)$/m);
  assert.equal(lines.filter((l) => l.startsWith('  => ')).length, 1);
  // --top 1: one group, and the rest counted.
  const one = renderCulprits(culpritReport(), { top: 1, width: SCREEN.width });
  assert.ok(one.includes('  ... 2 more group(s), 500 socket(s) (--top shows more, --json lists all)'), one.join('\n'));
});

test('doctor: the CLOSE_WAIT finding names the service and the hosts in a few short lines', () => {
  const { sockets } = leak();
  const settings: HostSettings = {
    kernel: '6.18.0', netns: 1, ephemeral: { low: 32768, high: 60999 }, reserved: [],
    sysctls: Object.fromEntries(SYSCTLS.map((name) => [name, null])) as HostSettings['sysctls'],
  };
  const snapshot = buildSnapshotReport({ snapshot: { sockets, files: [] }, netns: 1, ephemeral: settings.ephemeral, reserved: [], cmdlineOf: () => '' });
  const findings = diagnose({
    observedMs: 10_000, settings, countersBefore: {}, countersAfter: {}, sockets: snapshot, listenersAtStart: [], closes: [],
    culprits: culpritReport(),
  });
  const closeWait = findings.find((f) => f.id === 'close-wait')!;
  assert.match(closeWait.evidence[0],
    /^pid 4242 \(java -Dsome.*\.\.\.\): 1,000 in CLOSE_WAIT, oldest 9\.0 s; 10\.0\.0\.5:8080 <- 10\.1\.0\.1 x500, 10\.0\.0\.5:8080 <- 10\.1\.0\.2 x300, 10\.0\.0\.5:8080 <- 10\.1\.0\.3 x200$/);
  // On a 120x40 terminal: every line within the width, the whole report on the screen.
  const lines = renderDoctor({ observedMs: 10_000, settings, sockets: snapshot, findings }, undefined, 120);
  assert.deepEqual(lines.filter((l) => l.length > 120), []);
  assert.ok(lines.length <= 40, `${lines.length} lines:\n${lines.join('\n')}`);
  assert.ok(lines.some((l) => l.startsWith('[PROBLEM] CLOSE_WAIT: 1,000 socket(s) in CLOSE_WAIT held by 1 process(es)')), lines.join('\n'));
});

test('HTML report: the culprits table shows the groups and one piece of advice, and the command line cut', () => {
  const html = renderHtmlReport({
    title: 't', host: 'h', kernel: 'k', startTime: '2026-01-01T00:00:00Z', durationMs: 10_000, summary: [],
    culprits: culpritReport(), histograms: new LatencySet('us').toJson(), stateSeries: [], startNs: START,
  });
  const table = html.slice(html.indexOf('<table id="culprits"'), html.indexOf('</table>', html.indexOf('<table id="culprits"')));
  assert.equal(table.match(/<li><span class="mono">/g)?.length, 3);
  assert.match(table, /10\.0\.0\.5:8080 &lt;- 10\.1\.0\.1<\/span> \u00d7500/);
  assert.equal(table.match(/<ul class="advice"><li>[^<]*<\/li><\/ul>/g)?.length, 1);
  assert.ok(table.length < 4000, `the culprits table is ${table.length} characters`);
});
