/**
 * The kernel's own counts, which `hist` (without --by) reports instead of
 * events, against the TypeScript model fed the same session's events: the
 * same transitions per (old, new), and the same five histograms, bucket for
 * bucket, and against serve's fixed bounds; and what culprits reads of a
 * socket in CLOSE_WAIT. One session, so both see every transition with the
 * same times.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { afterEach, test } from 'node:test';
import { MAX_BOUNDS, MEASURE_KINDS, MeasureKind, STATE_COUNT_SLOTS } from '../../src/kernel/decoder';
import { stateName, TCP } from '../../src/kernel/states';
import { CgroupTable } from '../../src/host/cgroups';
import { buildCulpritReport, CloseWaitLog } from '../../src/model/culprits';
import { LatencySet } from '../../src/model/latency';
import { durationBoundsNs } from '../../src/model/metrics';
import { ConnectionTracker } from '../../src/model/tracker';
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
  const bounds = durationBoundsNs();
  const recorder = new Recorder({ ports: [...ports, pair.port], emitAccepts: true, countAggregates: true, boundsNs: bounds });
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
    // Nothing of ours moves after this (the listeners stay open until the
    // end), so no transition falls between the last read and the detach.
    const sockets = 2 * 2 * STORM + 2;
    await recorder.waitFor(`all ${sockets} sockets closed`, (evs) => evs.filter((e) => e.newstate === TCP.CLOSE).length >= sockets, 30_000);
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
    await exitAll(pair.server, pair.client);
    await Promise.all(storms.map((s) => s.exited()));
  }
});
