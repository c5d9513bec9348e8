/**
 * Faults, as a user meets them (signals are in signals.test.ts): kill -9 of a
 * recording, a full disk, a closed stdout, a second tcptrace at the same
 * time, and a user without privileges.
 * Each ends with a clear message, nothing left attached, and a trace file
 * that reads back.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import {
  assertCompleteTrace, assertCutShortTrace, CLIENT_AND_SERVER_CHILD, cli, exitOf, noStackTrace,
  programsOf, readWhole, released, shapes, shapesOnPort, startTracer, TRACER,
} from './fault-helpers';
import { oneConnection } from './helpers';
import { TraceLine } from '../../src/trace/format';
import { TraceWriter } from '../../src/trace/writer';
import { TCP } from '../../src/kernel/states';
import {
  bpfProgramIdsOf, CLI, FIXTURES, killStragglers, lastProgramId, LineProcess, orphanedPrograms, stillLoaded, until,
} from './helpers';

afterEach(killStragglers);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcptrace-faults-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let files = 0;
const newFile = (name: string) => path.join(dir, `${files++}-${name}`);

async function untilAsync(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('kill -9 of a recording', () => {
  for (const name of ['kill9.tcap', 'kill9.jsonl', 'kill9.jsonl.gz', 'kill9.json']) {
    test(`${name}: readable up to its last whole line (or block), nothing left attached`, async () => {
      const file = newFile(name);
      const tracer = await startTracer(['record', '-o', file, ...(name.endsWith('.json') ? ['--format', 'json'] : [])]);
      const programs = programsOf(tracer);
      const port = await oneConnection();
      // Written (and, for .gz and a capture, flushed within a second) before the kill.
      await untilAsync('the connection to reach the file', async () => {
        const { lines } = await readWhole(file).catch(() => ({ lines: [] as TraceLine[] }));
        return JSON.stringify(shapesOnPort(lines, port)) === JSON.stringify(CLIENT_AND_SERVER_CHILD);
      }, 5000);
      tracer.child.kill('SIGKILL');
      await tracer.exited();
      await released(programs);
      const lines = await assertCutShortTrace(file);
      assert.deepEqual(shapesOnPort(lines, port), CLIENT_AND_SERVER_CHILD);
    });
  }
});

/** Fills the file system at `mount` up to `leaveBytes` free. */
function fillUpTo(mount: string, leaveBytes: number): void {
  const { bavail, bsize } = fs.statfsSync(mount);
  const fill = bavail * bsize - leaveBytes;
  if (fill > 0) fs.writeFileSync(path.join(mount, 'filler'), Buffer.alloc(fill));
}

describe('a full disk while recording', () => {
  for (const name of ['full.tcap', 'full.jsonl', 'full.jsonl.gz']) {
    test(`${name}: one line naming the file and "no space left", exit 1, nothing attached, the file valid to its last whole line (or block)`, async () => {
      // Room for the start snapshot, then filled up to 1 MB once it is written.
      const mount = fs.mkdtempSync(path.join(os.tmpdir(), 'tcptrace-full-'));
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tcptrace-test', mount]);
      try {
        const storm = new LineProcess(process.execPath, [path.join(FIXTURES, 'storm.js'), '127.0.0.1', '20000', '20']);
        await until('storm server', () => storm.messages.length > 0);
        const port = storm.messages[0].port as number;
        const file = path.join(mount, name);
        const tracer = await startTracer(['record', '-o', file, '-P', String(port)]);
        const programs = programsOf(tracer);
        await until('the start snapshot to be written', () => fs.statSync(file).size > 0, 5000);
        await new Promise((r) => setTimeout(r, 300));
        fillUpTo(mount, 1024 * 1024); // room for several batches, or several 1 MB gzip members
        storm.send('go');
        // The disk fills within a few hundred connections: tcptrace stops by itself.
        const status = await Promise.race([tracer.exited(), new Promise((r) => setTimeout(() => r('still running'), 30_000))]);
        storm.child.kill('SIGKILL');
        assert.equal(status, 1, tracer.stderr);
        const errors = tracer.stderr.split('\n').filter((l) => l.startsWith('tcptrace: cannot'));
        const whole = name.endsWith('.tcap') ? 'block' : 'line';
        assert.deepEqual(errors, [`tcptrace: cannot write ${file}: no space left on device (it holds the trace up to its last whole ${whole})`]);
        assert.match(tracer.stderr, /stopping \(cannot write the recording\)/);
        noStackTrace(tracer.stderr);
        await released(programs);
        fs.rmSync(path.join(mount, 'filler'));
        if (name.endsWith('.jsonl')) assert.equal(fs.readFileSync(file).at(-1), 0x0a, 'cut back to a whole line');
        const lines = await assertCutShortTrace(file);
        const ours = lines.filter((l) => l.type === 'event' && (l.sport === port || l.dport === port));
        assert.ok(ours.length > 100, `the storm's events written before the disk filled (${ours.length})`);
      } finally {
        execFileSync('umount', [mount]);
        fs.rmdirSync(mount);
      }
    });
  }
});

describe('a full disk while writing an export or an HTML page', () => {
  test('one line naming the file and "no space left", exit 1, the file there before untouched, no temporary file left', async () => {
    // A recording of 3,000 connections: its export and its page outgrow what is left on the disk.
    const trace = newFile('for-export.jsonl');
    const writer = new TraceWriter(trace);
    writer.header(1e9, 1.7e12, { command: 'test' });
    writer.snapshot('start', 1e9, [], []);
    for (let c = 1; c <= 3000; c++) {
      writer.write([[TCP.CLOSE, TCP.SYN_SENT], [TCP.SYN_SENT, TCP.ESTABLISHED], [TCP.ESTABLISHED, TCP.CLOSE]].map(([oldstate, newstate], i) => ({
        kind: 'transition' as const, tsNs: 1e9 + c * 1e6 + i, skaddr: `a${c}`, sockId: c, family: 4 as const, saddr: '127.0.0.1', sport: 30_000 + c,
        daddr: '127.0.0.1', dport: 8080, netns: 1, oldstate, newstate, prevStateNs: null, pid: 7, comm: 'c', cgroupId: null,
        ownerSource: 'syscall' as const, inferred: false, txBytes: 0, rxBytes: 0, error: 0, peerFinReceived: false, idleNs: null,
      })));
    }
    writer.snapshot('end', 5e9, [], []);
    await writer.finish(5e9, 1.7e12, { lostEvents: 0, lostRingBufferFull: 0, lostNested: 0, nestedCaught: 0, inferred: 0, untrackedSockets: 0 });

    const mount = fs.mkdtempSync(path.join(os.tmpdir(), 'tcptrace-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tcptrace-test', mount]);
    try {
      for (const [name, args] of [['trace.json', ['export', trace, '-o']], ['report.html', ['report', trace, '--html', '-o']]] as const) {
        const out = path.join(mount, name);
        fs.writeFileSync(out, 'the one from yesterday');
        fillUpTo(mount, 4096);
        const r = cli([...args, out]);
        fs.rmSync(path.join(mount, 'filler'));
        assert.equal(r.status, 1, r.stderr);
        assert.equal(r.stderr, `tcptrace: cannot write ${out}: no space left on device\n`);
        noStackTrace(r.stderr);
        assert.equal(fs.readFileSync(out, 'utf8'), 'the one from yesterday', `${name}: not replaced by a cut-off one`);
        assert.deepEqual(fs.readdirSync(mount).sort(), [name], 'no temporary file left');
        fs.rmSync(out);
      }
    } finally {
      execFileSync('umount', [mount]);
      fs.rmdirSync(mount);
    }
  });
});

describe('a closed stdout (| head -1) while recording', () => {
  test('life --record: stops quietly, exit 0, the file complete', async () => {
    const file = newFile('head.jsonl');
    const [tracer, ...rest] = TRACER;
    const child = spawn(tracer, [...rest, 'life', '--json', '--record', file, '-v'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    await until('attached', () => /attached/.test(stderr), 10_000);
    const programs = bpfProgramIdsOf(child.pid!);
    child.stdout.destroy();
    const exited = exitOf(child);
    await oneConnection();
    assert.equal(await exited, 0, stderr);
    assert.match(stderr, /stopping \(output closed\)/);
    await released(programs);
    await assertCompleteTrace(file);
  });
});

/** storm.js's sockets (the server closes first), counted by their shape. */
function stormShapes(connections: number): Map<string, number> {
  return new Map([
    ['CLOSE>LISTEN LISTEN>CLOSE', 1],
    ['CLOSE>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>CLOSE_WAIT CLOSE_WAIT>LAST_ACK LAST_ACK>CLOSE', connections],
    ['LISTEN>SYN_RECV SYN_RECV>ESTABLISHED ESTABLISHED>FIN_WAIT1 FIN_WAIT1>FIN_WAIT2 FIN_WAIT2>CLOSE', connections],
  ]);
}

function counted(list: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of list) counts.set(item, (counts.get(item) ?? 0) + 1);
  return counts;
}

describe('two tcptrace at the same time', () => {
  test('both see every transition; stopping one detaches only its own programs and leaves the other tracing', async () => {
    const file = newFile('second.jsonl');
    const live = await startTracer(['live', '--json']);
    const recorder = await startTracer(['record', '-o', file]);
    const liveIds = programsOf(live);
    const recorderIds = programsOf(recorder);
    assert.equal(liveIds.filter((id) => recorderIds.includes(id)).length, 0, 'each holds programs of its own');

    // The storm's listener is born while both trace, so both know its port when it closes.
    const storm = new LineProcess(process.execPath, [path.join(FIXTURES, 'storm.js'), '127.0.0.1', '2000', '20']);
    await until('storm server', () => storm.messages.length > 0);
    const port = storm.messages[0].port as number;
    storm.send('go');
    assert.equal(await storm.exited(), 0);
    const onPort = () => live.messages.filter((m) => m.sport === port || m.dport === port);
    await until('live to print the storm', () => onPort().length >= 20_002, 30_000).catch((err) => {
      throw new Error(`${err.message}: ${onPort().length} lines on the port, lost: ${JSON.stringify(live.messages.filter((m) => 'lost' in m))}`);
    });
    const liveShapes = shapes(onPort().map((m) => ({ sock: m.sk as number, oldstate: m.oldstate as string, newstate: m.newstate as string })));
    assert.deepEqual(counted(liveShapes), stormShapes(2000));
    assert.equal(live.messages.filter((m) => 'lost' in m).length, 0);

    live.child.kill('SIGINT');
    assert.equal(await live.exited(), 0, live.stderr);
    await released(liveIds);
    assert.deepEqual(stillLoaded(recorderIds).sort(), [...recorderIds].sort(), 'the other tracer keeps all of its programs');

    // The recorder still traces after the first one left.
    const laterPort = await oneConnection();
    recorder.child.kill('SIGINT'); // what was traced before the signal is written at the stop
    assert.equal(await recorder.exited(), 0, recorder.stderr);
    await released(recorderIds);
    const lines = await assertCompleteTrace(file);
    assert.deepEqual(shapesOnPort(lines, port), liveShapes, 'the recorder saw the same sockets go through the same transitions');
    assert.deepEqual(shapesOnPort(lines, laterPort), CLIENT_AND_SERVER_CHILD);
  });
});

describe('a user without the privileges', () => {
  const asNobody = (caps: string[], args: string[]) => spawnSync('setpriv', [
    '--reuid=65534', '--regid=65534', '--clear-groups',
    ...(caps.length ? [`--inh-caps=${caps.map((c) => `+${c}`).join(',')}`, `--ambient-caps=${caps.map((c) => `+${c}`).join(',')}`] : []),
    process.execPath, CLI, ...args,
  ], { encoding: 'utf8', timeout: 30_000 });

  test('nobody: one line naming root, CAP_BPF and CAP_PERFMON; exit 1; nothing loaded; no file made', async () => {
    const sinceId = lastProgramId();
    const file = path.join(os.tmpdir(), `tcptrace-nobody-${process.pid}.jsonl`);
    // -v says "loading the BPF programs" once the checks pass: one line alone means refused before loading.
    for (const args of [['live', '-d', '5', '-v'], ['record', '-o', file, '-d', '5', '-v'], ['culprits', '-d', '5', '-v']]) {
      const r = asNobody([], args);
      assert.equal(r.status, 1, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^tcptrace: [^\n]*root[^\n]*CAP_BPF[^\n]*CAP_PERFMON[^\n]*\n$/);
      assert.match(r.stderr, /lacks CAP_BPF, CAP_PERFMON, CAP_DAC_READ_SEARCH/);
    }
    assert.equal(fs.existsSync(file), false);
    assert.deepEqual(orphanedPrograms(sinceId), []);
  });

  test('nobody with CAP_BPF and CAP_PERFMON only: told it lacks CAP_DAC_READ_SEARCH, before loading anything', () => {
    const r = asNobody(['bpf', 'perfmon'], ['live', '-d', '5', '-v']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^tcptrace: [^\n]*lacks CAP_DAC_READ_SEARCH: run tcptrace with sudo\n$/);
  });

  test('nobody with CAP_BPF, CAP_PERFMON and CAP_DAC_READ_SEARCH: traces, as the message says it would', async () => {
    const live = new LineProcess('setpriv', [
      '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=+bpf,+perfmon,+dac_read_search',
      '--ambient-caps=+bpf,+perfmon,+dac_read_search', process.execPath, CLI, 'live', '--json', '-v',
    ]);
    await until('tcptrace to attach', () => /attached/.test(live.stderr), 10_000);
    const port = await oneConnection();
    await until('the connection', () => live.messages.some((m) => m.dport === port && m.newstate === 'CLOSE'));
    live.child.kill('SIGINT');
    assert.equal(await live.exited(), 0, live.stderr);
  });
});
