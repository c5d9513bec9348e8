/**
 * The kernel's own counts, which `hist` (without --by) reports instead of
 * events, against the TypeScript model fed the same session's events: the
 * same transitions per (old, new), and the same five histograms, bucket for
 * bucket, and against serve's fixed bounds; and what culprits reads of a
 * socket in CLOSE_WAIT. One session, so both see every transition with the
 * same times. And life's per-connection records, which the kernel makes
 * itself, against the tracker following a second session's events.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { afterEach, test } from 'node:test';
import { MAX_BOUNDS, MEASURE_KINDS, MeasureKind, STATE_COUNT_SLOTS } from '../../src/kernel/decoder';
import { stateName, TCP } from '../../src/kernel/states';
import { CgroupTable } from '../../src/host/cgroups';
import { buildCulpritReport, CloseWaitLog } from '../../src/model/culprits';
import { LatencySet } from '../../src/model/latency';
import { LiveStats } from '../../src/model/live-stats';
import { durationBoundsNs } from '../../src/model/metrics';
import { ConnectionTracker, FinishedConnection, finishKernelConnection, snapshotRoles } from '../../src/model/tracker';
import { KernelConnection } from '../../src/kernel/decoder';
import { TraceSession } from '../../src/kernel/session';
import { FIXTURES, LineProcess, Recorder, connectPair, exitAll, killStragglers, until } from './helpers';

afterEach(killStragglers);

const STORM = 300;

function startStorm(closer: 'client' | 'server'): LineProcess {
  return new LineProcess(process.execPath, [path.join(FIXTURES, 'storm.js'), '127.0.0.1', String(STORM), '10', '--closer', closer]);
}

test('the kernel\'s aggregates equal the model\'s for the same transitions: counts per (old, new) and all five histograms', async () => {
  const storms = [startStorm('client'), startStorm('server')];
  await until('storm servers', () => storms.every((s) => s.messages.length > 0));
  const ports = storms.map((s) => s.messages[0].port as number);
  // A connection whose server closes first and whose client holds CLOSE_WAIT a while.
  const pair = await connectPair('127.0.0.1', 'close', 'hold');
  // One its client aborts (SO_LINGER 0): a RST sent, and one received.
  const aborted = await connectPair('127.0.0.1', 'hold', 'hold');
  const bounds = durationBoundsNs();
  const recorder = new Recorder({ ports: [...ports, pair.port, aborted.port], emitAccepts: true, countAggregates: true, countTallies: true, boundsNs: bounds });
  try {
    for (const s of storms) s.send('go');
    pair.server.send('close');
    await until('storms done', () => storms.every((s) => s.messages.some((m) => 'done' in m)), 60_000);
    for (const s of storms) assert.equal(s.messages.find((m) => 'done' in m)!.failed, 0);
    await recorder.waitFor('the client in CLOSE_WAIT', (evs) => evs.some((e) => e.newstate === TCP.CLOSE_WAIT && e.sport === pair.clientPort));
    const heldAtNs = Number(process.hrtime.bigint());
    const snapshotHeld = recorder.session.snapshot();
    const held = snapshotHeld.sockets.filter((s) => s.state === TCP.CLOSE_WAIT && s.sport === pair.clientPort);
    pair.client.send('close');
    await pair.client.next('closed');
    aborted.client.send('reset');
    // Its two ends, by their RSTs: a count of ->CLOSE alone may be made up by another socket that reused one of our ports.
    const ofAborted = (e: { sport: number; dport: number }) => e.sport === aborted.port || e.dport === aborted.port;
    await recorder.waitFor('the abort\'s RST sent and received', (evs) => evs.filter((e) => e.reset && ofAborted(e)).length >= 2, 10_000);
    // Nothing of ours moves after this (the listeners stay open until the
    // end), so no transition falls between the last read and the detach.
    const sockets = 2 * 2 * STORM + 4;
    await recorder.waitFor(`all ${sockets} sockets closed`, (evs) => evs.filter((e) => e.newstate === TCP.CLOSE).length >= sockets, 30_000);
    const tallies = recorder.session.tallies();
    await recorder.stop(); // delivers every event read; the kernel's counts are kept from the detach
    assert.equal(recorder.session.counters().lostEvents, 0, 'no event lost: both sides saw the same transitions');

    const kernel = recorder.session.aggregates();
    const events = recorder.events.filter((e) => e.kind === 'transition');
    for (let old = 0; old < STATE_COUNT_SLOTS; old++) {
      for (let now = 0; now < STATE_COUNT_SLOTS; now++) {
        const seen = events.filter((e) => e.oldstate === old && e.newstate === now).length;
        assert.equal(kernel.transitions[old][now], seen, `${stateName(old)} -> ${stateName(now)}`);
      }
    }

    // The RSTs that ended connections: the one the client sent, by its reason, and the one the server received.
    const resets = events.filter((e) => e.reset);
    assert.deepEqual(resets.map((e) => e.reset).sort(), ['received', 'sent']);
    const sentReason = resets.find((e) => e.reset === 'sent')!.resetReason ?? 'not known';
    assert.deepEqual([kernel.resetsSent, kernel.resetsReceived], [{ [sentReason]: 1 }, 1]);

    // The live view's tables: the kernel's tallies per owner and per peer, as the events count them.
    const viewOfEvents = new LiveStats(), viewOfKernel = new LiveStats();
    viewOfEvents.add(recorder.events);
    viewOfKernel.addKernel(kernel.transitions, tallies);
    // Rows in key order: ties rank in the order first seen, which differs between the two.
    const rows = (ranked: { key: string }[]) => [...ranked].sort((a, b) => a.key.localeCompare(b.key));
    const table = (stats: LiveStats) => [stats.total, ...[stats.transitions, stats.processes, stats.peers].map((t) => rows(t.top(100, 1)))];
    assert.ok(tallies.processes.length >= 2 && tallies.peers.length >= 1, 'owners and peers counted');
    assert.deepEqual(table(viewOfKernel), table(viewOfEvents));

    // What culprits reads without events: the kernel side's facts on the socket held in CLOSE_WAIT.
    const fromEvents = new CloseWaitLog();
    fromEvents.apply(recorder.events.filter((e) => e.tsNs < heldAtNs));
    assert.equal(held.length, 1, 'the client\'s socket in CLOSE_WAIT, in the snapshot');
    const { sockId } = held[0];
    const { openedBy: _, ...kept } = CloseWaitLog.fromSnapshot(held).get(sockId)!;
    assert.deepEqual(kept, fromEvents.get(sockId), 'entered CLOSE_WAIT and idle before the FIN, as the events say');
    // And so the same report: the same groups (service, peer host, counts, ages, idle) either way.
    const culpritsWith = (log: CloseWaitLog) => buildCulpritReport({
      snapshot: snapshotHeld, log, tracker: new ConnectionTracker(), nowNs: heldAtNs, startedNs: heldAtNs - 1e9,
      pids: [pair.client.pid], cmdlineOf: () => '', cgroups: new CgroupTable(),
    }).culprits.map((c) => c.groups);
    const fromKernel = culpritsWith(CloseWaitLog.fromSnapshot(snapshotHeld.sockets));
    assert.deepEqual(fromKernel, culpritsWith(fromEvents));
    assert.deepEqual(fromKernel.flat().map((g) => [g.side, g.dport, g.count]), [['client', pair.port, 1]]);

    const model = new LatencySet('us');
    const measured = new Map<MeasureKind, number[]>(MEASURE_KINDS.map((kind) => [kind, []]));
    new ConnectionTracker({
      onMeasure: (kind, ns, conn) => {
        model.add(kind, ns, conn);
        measured.get(kind)!.push(ns);
      },
    }).apply(recorder.events);
    const counted = new LatencySet('us');
    counted.addAggregates(kernel);
    for (const kind of MEASURE_KINDS) {
      const [fromModel] = model.get(kind).entries();
      assert.ok(fromModel && fromModel[1].count > 0, `the workload gives ${kind} samples`);
    }
    assert.deepEqual(counted.toJson(), model.toJson());

    // serve's histograms: the same durations against their fixed bounds (ns <= bound).
    MEASURE_KINDS.forEach((kind, i) => {
      if (!bounds[i].length) return;
      const counts = new Array<number>(MAX_BOUNDS + 1).fill(0);
      for (const ns of measured.get(kind)!) {
        const at = bounds[i].findIndex((b) => ns <= b);
        counts[at === -1 ? bounds[i].length : at]++;
      }
      const sumNs = measured.get(kind)!.reduce((a, b) => a + b, 0);
      assert.deepEqual(kernel.bounded[kind], { counts, sumNs }, `${kind} against serve's bounds`);
    });
  } finally {
    await recorder.stop();
    await exitAll(pair.server, pair.client, aborted.server, aborted.client);
    await Promise.all(storms.map((s) => s.exited()));
  }
});

/** What life prints of a connection, but its id and times (each session takes its own). */
function story(c: FinishedConnection): Record<string, unknown> {
  const { sockId: _id, startNs: _s, endNs: _e, lifetimeNs: _l, stateSinceNs: _ss, state: _st, dwellNs, ...rest } = c;
  return { ...rest, dwellStates: Object.keys(dwellNs).sort() };
}

/** Pairs each connection of one list with the other's by its four-tuple, in the order they ended. */
function byTuple(list: FinishedConnection[]): Map<string, FinishedConnection[]> {
  const out = new Map<string, FinishedConnection[]>();
  for (const c of [...list].sort((a, b) => a.endNs - b.endNs)) {
    const key = `${c.saddr}:${c.sport}>${c.daddr}:${c.dport}`;
    out.set(key, [...(out.get(key) ?? []), c]);
  }
  return out;
}

test('life: the kernel\'s record of each connection equals the tracker following its transitions', async () => {
  const storms = [startStorm('client'), startStorm('server')];
  await until('storm servers', () => storms.every((s) => s.messages.length > 0));
  // Open before tracing, with data both ways; the server closes first and the client lingers in CLOSE_WAIT.
  const pair = await connectPair('127.0.0.1', 'close', 'hold');
  // And one that its client aborts (SO_LINGER 0): a RST sent, and one received.
  const aborted = await connectPair('127.0.0.1', 'hold', 'hold');
  const ports = [...storms.map((s) => s.messages[0].port as number), pair.port, aborted.port];
  const recorder = new Recorder({ ports, emitAccepts: true });
  const kernel: KernelConnection[] = [];
  const session = TraceSession.open({ ports, emitConnections: true });
  try {
    const snapshot = recorder.session.snapshot();
    const roles = snapshotRoles(session.snapshot().sockets);
    session.start({ onEvents: () => assert.fail('no events from a connections session'), onConnections: (cs) => { kernel.push(...cs); } });
    pair.client.send('send 3000');
    await pair.client.next('sent');
    pair.server.send('send 700');
    await pair.server.next('sent');
    for (const s of storms) s.send('go');
    await until('storms done', () => storms.every((s) => s.messages.some((m) => 'done' in m)), 60_000);
    pair.server.send('close');
    await recorder.waitFor('the client in CLOSE_WAIT', (evs) => evs.some((e) => e.newstate === TCP.CLOSE_WAIT && e.sport === pair.clientPort));
    await new Promise((r) => setTimeout(r, 50));
    pair.client.send('close');
    await pair.client.next('closed');
    aborted.client.send('reset');
    const sockets = 2 * 2 * STORM + 4;
    await recorder.waitFor(`all ${sockets} sockets closed`, (evs) => evs.filter((e) => e.newstate === TCP.CLOSE).length >= sockets, 30_000);
    await until('the kernel\'s records of them all', () => kernel.length >= sockets, 10_000);
    await Promise.all([recorder.stop(), session.stop()]);
    assert.equal(recorder.session.counters().lostEvents + session.counters().lostEvents, 0, 'nothing lost');

    const followed: FinishedConnection[] = [];
    const tracker = new ConnectionTracker({ onFinished: (c) => followed.push(c) });
    tracker.loadSnapshot(snapshot.sockets, recorder.events[0].tsNs);
    tracker.apply(recorder.events);
    const kept = kernel.map((k) => finishKernelConnection(k, k.born ? undefined : roles.get(k.last.sockId)));
    assert.equal(kept.length, followed.length, 'one record per connection');
    const mine = byTuple(followed), theirs = byTuple(kept);
    for (const [tuple, list] of mine) {
      const other = theirs.get(tuple) ?? [];
      assert.equal(other.length, list.length, `${tuple}: as many ends`);
      list.forEach((c, i) => {
        const k = other[i];
        assert.deepEqual(story(k), story(c), tuple);
        // Each session times every transition itself, microseconds apart.
        assert.ok(Math.abs(k.endNs - c.endNs) < 1e6, `${tuple}: ended at the same time`);
        if (!c.preexisting) assert.ok(Math.abs(k.lifetimeNs - c.lifetimeNs) < 1e6, `${tuple}: lifetime ${k.lifetimeNs} vs ${c.lifetimeNs}`);
        for (const [state, ns] of Object.entries(c.dwellNs)) assert.ok(Math.abs(k.dwellNs[state] - ns) < 1e6, `${tuple}: ${state} ${k.dwellNs[state]} vs ${ns}`);
      });
    }
    const preexisting = kept.filter((c) => c.preexisting);
    assert.deepEqual(preexisting.map((c) => `${c.role}:${c.closedFirst}:${c.txBytes}:${c.rxBytes}:${c.reset}`).sort(), [
      'client:null:0:0:sent', 'client:remote:3000:700:null', 'server:local:700:3000:null', 'server:null:0:0:received',
    ]);
  } finally {
    await Promise.all([recorder.stop(), session.stop()]);
    await exitAll(pair.server, pair.client, aborted.server, aborted.client);
    await Promise.all(storms.map((s) => s.exited()));
  }
});
