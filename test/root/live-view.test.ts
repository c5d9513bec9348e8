/**
 * The live screen view as a person sees it: `tcptrace live` in a
 * pseudo-terminal (util-linux `script`), under real traffic. Its counts move,
 * the leaking process shows up with its CLOSE_WAIT sockets, and Ctrl-C (a real
 * ^C typed into the terminal) ends it with a last frame, exit 0, and the
 * terminal's settings as they were.
 */
import assert from 'node:assert/strict';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, test } from 'node:test';
import { CLI, FIXTURES, LineProcess, exitAll, killStragglers, peer, until } from './helpers';

afterEach(killStragglers);

const CLEAR = '\x1b[H\x1b[2J';
const STORM = 2000;

/** A command in a pseudo-terminal of 160x50; `typed` goes to it as keystrokes. */
class Terminal {
  output = '';
  readonly child: ChildProcess;

  constructor(shellCommand: string) {
    this.child = spawn('script', ['-qfec', `bash -c '${shellCommand}'`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d) => { this.output += d; });
  }

  type(keys: string): void {
    this.child.stdin!.write(keys);
  }

  /** Each full redraw of the view, in order. */
  frames(): string[] {
    return this.output.split(CLEAR).slice(1).filter((f) => f.includes('Ctrl-C to stop'));
  }

  exited(): Promise<number | null> {
    if (this.child.exitCode !== null) return Promise.resolve(this.child.exitCode);
    return new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }
}

function transitionsIn(frame: string): number {
  return Number(/transitions ([\d,]+)/.exec(frame)![1].replace(/,/g, ''));
}

/** The count under a state's heading in a frame's state table. */
function stateCount(frame: string, state: string): number {
  const lines = frame.split('\r\n');
  const header = lines.findIndex((l) => /^\s+ESTABLISHED\s+SYN_SENT/.test(l));
  const names = lines[header].trim().split(/\s+/);
  const values = lines[header + 1].trim().split(/\s+/);
  return Number(values[names.indexOf(state)].replace(/,/g, ''));
}

test('live view in a terminal: counts move, the leaking process appears, Ctrl-C restores the terminal', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcptrace-view-'));
  const stty = (name: string) => path.join(dir, name);
  try {
    const leakServer = peer('server', '127.0.0.1', 0, 'hold');
    const leakPort = (await leakServer.next('listening')).port as number;
    const storm = new LineProcess(process.execPath, [path.join(FIXTURES, 'storm.js'), '127.0.0.1', String(STORM), '20']);
    await until('storm server', () => storm.messages.length > 0);
    const stormPort = storm.messages[0].port as number;

    // bash traps SIGINT (its child starts with the default action again), so
    // the ^C cannot end bash itself: "exit=N" is always tcptrace's own status.
    const term = new Terminal(`trap : INT; stty cols 160 rows 50; stty -g > ${stty('before')}; ` +
      `${process.execPath} ${CLI} live -P ${leakPort},${stormPort}; echo "exit=$?"; stty -g > ${stty('after')}`);
    await until('the first frame', () => term.frames().length > 0, 15_000);
    const first = term.frames()[0];
    assert.equal(transitionsIn(first), 0, first);

    const pool = new LineProcess(process.execPath, [path.join(FIXTURES, 'pool-client.js'), '127.0.0.1', String(leakPort), '5']);
    await pool.next('connected');
    await until('five accepted', () => leakServer.messages.filter((m) => m.event === 'accepted').length === 5);
    leakServer.send('close');
    storm.send('go');
    await until('storm done', () => storm.messages.some((m) => 'done' in m), 30_000);
    assert.equal(storm.messages.find((m) => 'done' in m)!.failed, 0);

    // A frame drawn after the traffic: the storm counted, the leak in CLOSE_WAIT, its process named.
    const poolRow = new RegExp(`^\\s+${pool.pid}\\s+node\\b`, 'm');
    await until('a frame with the storm and the leak', () => {
      const last = term.frames().at(-1)!;
      return transitionsIn(last) >= STORM * 10 && stateCount(last, 'CLOSE_WAIT') >= 5 && poolRow.test(last);
    }, 15_000).catch(() => {});
    const shown = term.frames().at(-1)!;
    assert.ok(transitionsIn(shown) >= STORM * 10, `the storm's ${STORM * 10} transitions counted:\n${shown}`);
    assert.ok(stateCount(shown, 'CLOSE_WAIT') >= 5, `the pool's five CLOSE_WAIT sockets:\n${shown}`);
    assert.match(shown, poolRow, `the pool ${pool.pid} in the PROCESS table:\n${shown}`);
    const counts = term.frames().map(transitionsIn);
    assert.ok(counts.every((n, i) => i === 0 || n >= counts[i - 1]), `counts never go back: ${counts.join(' ')}`);

    const framesBefore = term.frames().length;
    term.type('\x03');
    // Only tcptrace's own status is asserted: `script` reports bash's, and bash
    // may still end by the SIGINT it saw while waiting (CI saw 130 after "exit=0").
    await term.exited();
    assert.match(term.output, /exit=0\r\n$/, `tcptrace exits 0 on Ctrl-C:\n${term.output.slice(-2000)}`);
    assert.match(term.output, /\^C/, 'the terminal echoed the Ctrl-C');
    assert.ok(term.frames().length > framesBefore, 'a last frame after Ctrl-C');
    assert.doesNotMatch(term.output, /\n\s+at /, 'no stack trace');
    assert.equal(fs.readFileSync(stty('after'), 'utf8'), fs.readFileSync(stty('before'), 'utf8'), 'the terminal settings as they were');
    await exitAll(leakServer, pool);
    await storm.exited();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('live view at 80x24 fits the screen, and follows a resize', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcptrace-view-'));
  const ttyName = path.join(dir, 'tty');
  const term = new Terminal(`trap : INT; stty cols 80 rows 24; tty > ${ttyName}; ${process.execPath} ${CLI} live -P 1; echo "exit=$?"`);
  const plain = (frame: string) => frame.replace(/\x1b\[[0-9;]*m/g, '').split('\r\n').filter((l, i, all) => i < all.length - 1 || l !== '');
  const statesOnOneLine = (lines: string[]) => lines.some((l) => /^\s+ESTABLISHED\s+SYN_SENT.*SYN_RECV\(req\)/.test(l));
  try {
    await until('the first frame', () => term.frames().length > 0, 15_000);
    const small = plain(term.frames()[0]);
    assert.ok(small.length <= 24, `${small.length} lines:\n${small.join('\n')}`);
    assert.deepEqual(small.filter((l) => l.length > 80), []);
    assert.match(small[0], /^tcptrace live /);
    assert.ok(small.some((l) => /^ {2}PROCESS/.test(l)) && small.some((l) => /^\s+ESTABLISHED\s+SYN_SENT/.test(l)), small.join('\n'));
    assert.ok(!statesOnOneLine(small), 'the states over two lines at 80 columns');

    // Resized from outside, as a window manager does: the kernel tells the view (SIGWINCH).
    const seen = term.frames().length;
    execFileSync('stty', ['-F', fs.readFileSync(ttyName, 'utf8').trim(), 'cols', '150', 'rows', '50']);
    await until('a frame for the new size', () => term.frames().slice(seen).some((f) => statesOnOneLine(plain(f))), 10_000);
    const big = plain(term.frames().slice(seen).find((f) => statesOnOneLine(plain(f)))!);
    assert.ok(big.length <= 50 && big.some((l) => l.length > 80), big.join('\n'));
  } finally {
    term.type('\x03');
    await term.exited();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.match(term.output, /exit=0\r\n$/);
});
