/**
 * Cgroup paths in a recording: the writer names each cgroup id once, before the
 * first line that carries it, and a report read from the file names owners the
 * way the live command did, with no access to the recording host's cgroups.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CgroupNames } from '../../src/host/cgroups';
import { SnapshotFile, TransitionEvent } from '../../src/kernel/decoder';
import { FileSource } from '../../src/source/file';
import { TraceLine } from '../../src/trace/format';
import { readTrace } from '../../src/trace/reader';
import { TraceWriter } from '../../src/trace/writer';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcptrace-trace-cgroups-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const DOCKER = `/system.slice/docker-${'ab'.repeat(32)}.scope`;

/** Names that a test changes as it goes (a cgroup made, found by a later walk). */
class ChangingNames implements CgroupNames {
  readonly paths = new Map<number, string>([[10, '/'], [20, DOCKER]]);
  pathOf(id: number | null): string | null {
    return id === null ? null : this.paths.get(id) ?? null;
  }
  containerOf(): string | null {
    return null;
  }
}

function file(pid: number, cgroupId: number): SnapshotFile {
  return { skaddr: `ffff${pid}`, sockId: pid, pid, fd: 3, comm: 'x', cgroupId };
}

function event(tsNs: number, cgroupId: number | null): TransitionEvent {
  return {
    kind: 'transition', tsNs, skaddr: 'ffff1', sockId: 1, family: 4, saddr: '127.0.0.1', sport: 1, daddr: '127.0.0.1',
    dport: 2, netns: 1, oldstate: 1, newstate: 8, prevStateNs: null, pid: cgroupId === null ? null : 5, comm: null,
    cgroupId, ownerSource: null, inferred: false, txBytes: 0, rxBytes: 0, error: 0, peerFinReceived: false, idleNs: null,
  };
}

const COUNTERS = { lostEvents: 0, lostRingBufferFull: 0, lostNested: 0, nestedCaught: 0, inferred: 0, untrackedSockets: 0 };

async function linesOf(file: string): Promise<TraceLine[]> {
  const out: TraceLine[] = [];
  for await (const line of readTrace(file)) out.push(line);
  return out;
}

test('the writer names each cgroup once, before its first use; late names come when known', async () => {
  const names = new ChangingNames();
  const file1 = path.join(dir, 'named.jsonl');
  const writer = new TraceWriter(file1, 'jsonl', names);
  writer.header(0, 0, {});
  writer.snapshot('start', 1, [], [file(1, 10), file(2, 20), file(3, 20), file(4, 0)]);
  writer.write([event(2, 20), event(3, null), event(4, 30)]); // 30: not known yet
  names.paths.set(30, '/late');
  writer.write([event(5, 30), event(6, 10)]);
  writer.snapshot('end', 7, [], [file(1, 10)]);
  await writer.finish(8, 0, COUNTERS);

  const shapes = (await linesOf(file1)).map((l) =>
    l.type === 'cgroup' ? `cgroup ${l.id} ${l.path}` : l.type === 'event' ? `event ${l.cgroupId}` : l.type === 'file' ? `file ${l.cgroupId}` : l.type);
  assert.deepEqual(shapes, [
    'header', 'snapshot', `cgroup 10 /`, `cgroup 20 ${DOCKER}`, 'file 10', 'file 20', 'file 20', 'file 0',
    'event 20', 'event null', 'event 30',
    'cgroup 30 /late', 'event 30', 'event 10',
    'snapshot', 'file 10', 'footer',
  ]);
});

test('a FileSource names owners from the recording\'s cgroup lines, as they were known live', async () => {
  const names = new ChangingNames();
  const file1 = path.join(dir, 'source.jsonl.gz');
  const writer = new TraceWriter(file1, 'jsonl', names);
  writer.header(0, 0, { cgroup: '/system.slice' });
  writer.snapshot('start', 1, [], [file(2, 20)]);
  writer.write([event(2, 30)]); // not known at the time
  names.paths.set(30, '/late');
  writer.write([event(3, 30)]);
  writer.snapshot('end', 4, [], []);
  await writer.finish(5, 0, COUNTERS);

  const source = await FileSource.open(file1);
  // Known from the start snapshot's lines on.
  assert.equal(source.cgroups.pathOf(20), DOCKER);
  assert.equal(source.cgroups.containerOf(20), 'ab'.repeat(32));
  const seen: [number, string | null][] = [];
  await source.run({
    onEvents: (events) => { for (const e of events) seen.push([e.tsNs, source.cgroups.pathOf(e.cgroupId)]); },
  });
  // The first event was reported without a path live: the report says the same.
  assert.deepEqual(seen, [[2, null], [3, '/late']]);
});
