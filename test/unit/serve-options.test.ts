/** `tcptrace serve`'s flags: --listen, --interval, --top, and the filters applied to snapshots. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { TcptraceError } from '../../src/errors';
import { parseListen, parseRefreshInterval } from '../../src/cli/options';
import { ephemeralPortCount } from '../../src/host/settings';

const BIN = path.resolve(__dirname, '../../../bin/tcptrace');

function assertUsageError(fn: () => unknown, fragment: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TcptraceError, `expected a TcptraceError, got ${String(err)}`);
    assert.equal(err.exitCode, 2);
    assert.ok(err.message.includes(fragment), `message "${err.message}" lacks "${fragment}"`);
    return true;
  });
}

test('parseListen: IPv4, bracketed IPv6, host names, port 0 for any free port', () => {
  assert.deepEqual(parseListen('127.0.0.1:9466'), { host: '127.0.0.1', port: 9466 });
  assert.deepEqual(parseListen('[::1]:9466'), { host: '::1', port: 9466 });
  assert.deepEqual(parseListen('[fe80::1%eth0]:1'), { host: 'fe80::1%eth0', port: 1 });
  assert.deepEqual(parseListen('0.0.0.0:65535'), { host: '0.0.0.0', port: 65535 });
  assert.deepEqual(parseListen('localhost:0'), { host: 'localhost', port: 0 });
  assert.deepEqual(parseListen('node-1.example.com:80'), { host: 'node-1.example.com', port: 80 });
});

test('parseListen rejects what is not HOST:PORT, naming --listen', () => {
  assertUsageError(() => parseListen('9466'), '--listen: "9466" is not HOST:PORT or [IPv6]:PORT');
  assertUsageError(() => parseListen('127.0.0.1'), 'is not HOST:PORT');
  assertUsageError(() => parseListen('::1:9466'), 'IPv6 addresses go in brackets: [::1]:9466');
  assertUsageError(() => parseListen('127.0.0.1:65536'), '--listen: 65536 is out of range (0-65535)');
  assertUsageError(() => parseListen('127.0.0.1:-1'), '"-1" is not a whole number');
  assertUsageError(() => parseListen('127.0.0.1:'), '"" is not a whole number');
  assertUsageError(() => parseListen(':9466'), '"" is not an IPv4 address or a host name');
  assertUsageError(() => parseListen('[127.0.0.1]:80'), '"127.0.0.1" in brackets is not an IPv6 address');
  assertUsageError(() => parseListen('999.1.1.1:80'), '"999.1.1.1" is not an IPv4 address or a host name');
  assertUsageError(() => parseListen('bad_name:80'), '"bad_name" is not an IPv4 address or a host name');
});

test('parseRefreshInterval: 0.1 to 3600 seconds', () => {
  assert.equal(parseRefreshInterval('--interval', '0.5'), 0.5);
  assert.equal(parseRefreshInterval('--interval', '3600'), 3600);
  assertUsageError(() => parseRefreshInterval('--interval', '0.05'), '--interval: 0.05 is out of range (0.1-3600 s)');
  assertUsageError(() => parseRefreshInterval('--interval', '3601'), 'out of range');
  assertUsageError(() => parseRefreshInterval('--interval', 'soon'), '--interval: "soon" is not a number of seconds');
});

test('ephemeralPortCount counts both ends of the range; null when unreadable or nonsense', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcptrace-range-'));
  try {
    const file = path.join(dir, 'range');
    fs.writeFileSync(file, '32768\t60999\n');
    assert.equal(ephemeralPortCount(file), 28232);
    fs.writeFileSync(file, '60999 32768\n');
    assert.equal(ephemeralPortCount(file), null);
    assert.equal(ephemeralPortCount(path.join(dir, 'missing')), null);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.ok((ephemeralPortCount() ?? 0) > 0, 'this host\'s own range reads');
});

const BAD_SERVE_FLAGS: [string[], string][] = [
  [['--listen', '127.0.0.1'], 'tcptrace: --listen: "127.0.0.1" is not HOST:PORT or [IPv6]:PORT'],
  [['--listen', '127.0.0.1:99999'], 'tcptrace: --listen: 99999 is out of range (0-65535)'],
  [['--listen', '::1:9466'], 'IPv6 addresses go in brackets'],
  [['--interval', '0'], 'tcptrace: --interval: 0 is out of range'],
  [['--top', '0'], 'tcptrace: --top: 0 is out of range (1-1000)'],
  [['--port', '0'], 'tcptrace: --port: 0 is out of range (1-65535)'],
];

for (const [args, message] of BAD_SERVE_FLAGS) {
  test(`tcptrace serve ${args.join(' ')}: exit 2, one line, before anything is attached or bound`, () => {
    const r = spawnSync(process.execPath, [BIN, 'serve', ...args], { encoding: 'utf8', timeout: 5_000 });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.ok(r.stderr.startsWith(message) || r.stderr.includes(message), r.stderr);
  });
}

test('tcptrace serve --help documents the defaults', () => {
  const r = spawnSync(process.execPath, [BIN, 'serve', '--help'], { encoding: 'utf8', timeout: 5_000 });
  assert.equal(r.status, 0);
  assert.match(r.stdout, /--listen <host:port>[\s\S]*default: 127\.0\.0\.1:9466/);
  assert.match(r.stdout, /--interval <seconds>[\s\S]*default: 5\)/);
  assert.match(r.stdout, /--top <n>[\s\S]*default: 10\)/);
  assert.match(r.stdout, /--port <ports>/);
});

test('tcptrace serve on a port already in use: exit 1, one line, before loading anything', async () => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const { port } = taken.address() as net.AddressInfo;
  try {
    // -v would say "loading the BPF programs" first had it got that far.
    const r = spawnSync(process.execPath, [BIN, 'serve', '--listen', `127.0.0.1:${port}`, '-v'], { encoding: 'utf8', timeout: 5_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr, `tcptrace: --listen: cannot listen on 127.0.0.1:${port}: the port is already in use\n`);
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
});
