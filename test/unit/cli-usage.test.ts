import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

// Compiled to dist/test/unit: the package root is three levels up.
const ROOT = path.resolve(__dirname, '../../..');
const BIN = path.join(ROOT, 'bin/tcptrace');
const HINT = '(run with --help for usage)';

function run(...args: string[]) {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    timeout: 5_000,
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  assert.equal(result.error, undefined);
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Exit 2, nothing on stdout, one line on stderr naming `mention` (plus commander's hint), no stack. */
function assertUsageFailure(args: string[], mention: string): void {
  const { status, stdout, stderr } = run(...args);
  const where = `tcptrace ${args.join(' ')}: stderr was ${JSON.stringify(stderr)}`;
  assert.equal(status, 2, where);
  assert.equal(stdout, '', where);
  assert.ok(!stderr.includes('    at '), `stack trace: ${where}`);
  const lines = stderr.trimEnd().split('\n');
  assert.ok(lines.length === 1 || (lines.length === 2 && lines[1] === HINT), `more than one line: ${where}`);
  assert.ok(lines[0].includes(mention), `does not mention ${mention}: ${where}`);
}

const BAD_USAGE: Array<[string[], string]> = [
  [['live', '--port', '70000'], '--port'],
  [['live', '--duration', 'abc'], '--duration'],
  [['live', '--state', 'FOO'], '--state'],
  [['live', '--ring-buffer', '3M'], '--ring-buffer'],
  [['live', '--pid', '0'], '--pid'],
  [['live', '--netns', 'no-such-netns-here'], '--netns'],
  [['life', '--netns', 'pid:x'], '--netns'],
  [['hist', '--netns', '1,2,3,4,5,6,7,8,9'], '--netns'],
  [['record', '-o', '/dev/null', '--cgroup', '/no/such/cgroup/here'], '--cgroup'],
  [['culprits', '--cgroup', 'fedcba9876'], '--cgroup'],
  [['live', '--bogus'], '--bogus'],
  [['frobnicate'], 'frobnicate'],
  [['snapshot', '--by', 'color'], '--by'],
  [['snapshot', '--top', '0'], '--top'],
  [['snapshot', 'extra'], 'too many arguments'],
  [['doctor', '--duration', 'abc'], '--duration'],
  [['doctor', '-d', '0'], '--duration'],
];

for (const [args, mention] of BAD_USAGE) {
  test(`usage error: tcptrace ${args.join(' ')}`, () => assertUsageFailure(args, mention));
}

test('our own usage errors say what was wrong with the value', () => {
  assert.equal(run('live', '--port', '70000').stderr, 'tcptrace: --port: 70000 is out of range (1-65535)\n');
  assert.equal(run('live', '-P', '80', '-P', '443,22', '--port', '1,2,3,4,5,6').stderr,
    'tcptrace: --port: at most 8 values (got 9)\n');
});

test('--help exits 0 and lists the live command', () => {
  const { status, stdout, stderr } = run('--help');
  assert.equal(status, 0, stderr);
  assert.match(stdout, /^Usage: tcptrace /);
  assert.match(stdout, /^\s+live \[options\]\s+\S/m);
});

test('live --help exits 0 and lists the filter flags', () => {
  const { status, stdout } = run('live', '--help');
  assert.equal(status, 0);
  for (const flag of ['--pid <pids>', '--port <ports>', '--state <states>', '--netns <netns>', '--cgroup <path>', '--ring-buffer <size>', '--duration <seconds>', '--json']) {
    assert.ok(stdout.includes(flag), `live --help lacks ${flag}`);
  }
});

test('--version prints the package.json version', () => {
  const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const { status, stdout } = run('--version');
  assert.equal(status, 0);
  assert.equal(stdout, `${version}\n`);
});
