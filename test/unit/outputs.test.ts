/**
 * Output files and stdout: a file appears under its name only when complete,
 * "-" is stdout for every -o, and a reader that goes away (`| head -1`) is a
 * clean stop, exit 0 and nothing on stderr, in every command that writes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { TransitionEvent } from '../../src/kernel/decoder';
import { TCP } from '../../src/kernel/states';
import { OutputFile } from '../../src/output-file';
import { TraceWriter } from '../../src/trace/writer';

const ROOT = path.resolve(__dirname, '../../..');
const BIN = path.join(ROOT, 'bin/tcptrace');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcptrace-outputs-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A recording of `connections` whole connections, big enough that every output outgrows a pipe's buffer. */
async function trace(connections: number): Promise<string> {
  const file = path.join(dir, `t${connections}.jsonl`);
  const writer = new TraceWriter(file);
  writer.header(1e9, 1.7e12, { command: 'test' });
  writer.snapshot('start', 1e9, [], []);
  const states = [[TCP.CLOSE, TCP.SYN_SENT], [TCP.SYN_SENT, TCP.ESTABLISHED], [TCP.ESTABLISHED, TCP.FIN_WAIT1],
    [TCP.FIN_WAIT1, TCP.FIN_WAIT2], [TCP.FIN_WAIT2, TCP.CLOSE]];
  for (let c = 1; c <= connections; c++) {
    writer.write(states.map(([oldstate, newstate], i): TransitionEvent => ({
      kind: 'transition', tsNs: 1e9 + c * 1e6 + i * 1e3, skaddr: `ffff8881${c.toString(16).padStart(8, '0')}`, sockId: c, family: 4,
      saddr: '127.0.0.1', sport: 30_000 + (c % 30_000), daddr: '127.0.0.1', dport: 8080, netns: 1, oldstate, newstate, prevStateNs: i ? 1000 : null,
      pid: 7, comm: 'client', cgroupId: null, ownerSource: 'syscall', inferred: false, txBytes: 0, rxBytes: 0, error: 0,
      peerFinReceived: false, idleNs: null,
    })));
  }
  writer.snapshot('end', 1e9 + (connections + 1) * 1e6, [], []);
  await writer.finish(1e9 + (connections + 2) * 1e6, 1.7e12, { lostEvents: 0, lostRingBufferFull: 0, lostNested: 0, nestedCaught: 0, inferred: 0, untrackedSockets: 0 });
  return file;
}

/** `tcptrace ARGS | head -1`: tcptrace's own exit status and stderr, and what head printed. */
function headOne(args: string[]): { status: number; stderr: string; first: string } {
  const quoted = args.map((a) => `'${a}'`).join(' ');
  const r = spawnSync('bash', ['-c', `'${process.execPath}' '${BIN}' ${quoted} 2>"$0.err" | head -1; echo "\${PIPESTATUS[0]}" >"$0.status"`, path.join(dir, 'head')], {
    encoding: 'utf8', timeout: 60_000, cwd: dir,
  });
  assert.equal(r.status, 0, r.stderr);
  return {
    status: Number(fs.readFileSync(path.join(dir, 'head.status'), 'utf8')),
    stderr: fs.readFileSync(path.join(dir, 'head.err'), 'utf8'),
    first: r.stdout,
  };
}

test('an output file appears under its name only when complete; a failed one leaves the old file', () => {
  const target = path.join(dir, 'page.html');
  fs.writeFileSync(target, 'old page');
  const failed = OutputFile.open(target);
  failed.write('half a new pa');
  assert.equal(fs.readFileSync(target, 'utf8'), 'old page', 'the old page stays while the new one is written');
  failed.abandon();
  assert.equal(fs.readFileSync(target, 'utf8'), 'old page');
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('page.html')), ['page.html'], 'no temporary file left');

  const done = OutputFile.open(target);
  done.write('the new page');
  done.commit();
  assert.equal(fs.readFileSync(target, 'utf8'), 'the new page');
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('page.html')), ['page.html']);
});

test('-o - is stdout for export and the HTML report: no file named "-"', async () => {
  const file = await trace(10);
  for (const args of [['export', file, '-o', '-'], ['report', file, '--html', '-o', '-']]) {
    const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30_000, cwd: dir });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.ok(args[0] === 'export' ? JSON.parse(r.stdout).traceEvents.length > 10 : r.stdout.startsWith('<!DOCTYPE html>'), r.stdout.slice(0, 100));
    assert.ok(!fs.existsSync(path.join(dir, '-')), `${args.join(' ')} made a file named "-"`);
  }
  const bad = spawnSync(process.execPath, [BIN, 'life', '--record', '-'], { encoding: 'utf8', timeout: 30_000, cwd: dir });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^tcptrace: --record -: stdout carries the report; tcptrace record -o - writes the trace to stdout\n$/);
});

test('| head -1 is a clean stop: exit 0, nothing on stderr, for every command that writes a recording\'s reports', async () => {
  const file = await trace(4000);
  for (const args of [
    ['export', file, '-o', '/dev/stdout'], ['export', file, '-o', '-'], ['report', file, '--html', '-o', '-'],
    ['report', file, 'life'], ['report', file, 'life', '--json'], ['--help'], ['report', '--help'],
  ]) {
    const r = headOne(args);
    assert.deepEqual([r.status, r.stderr], [0, ''], `tcptrace ${args.join(' ')} | head -1`);
    assert.ok(r.first.length > 0);
  }
});
