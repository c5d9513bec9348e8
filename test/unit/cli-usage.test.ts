import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command, CommanderError } from 'commander';
import { buildProgram } from '../../src/cli/main';
import { TcptraceError } from '../../src/errors';

// Compiled to dist/test/unit: the package root is three levels up.
const ROOT = path.resolve(__dirname, '../../..');
const BIN = path.join(ROOT, 'bin/tcptrace');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcptrace-usage-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const TRACE = path.join(dir, 'trace.jsonl');
fs.writeFileSync(TRACE, '');
const OUT = path.join(dir, 'out.json');
const MISSING_DIR_FILE = path.join(dir, 'no-such-dir', 'x.jsonl');

function run(...args: string[]) {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    timeout: 5_000,
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  assert.equal(result.error, undefined);
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Exit 2, nothing on stdout, one "tcptrace: ..." line on stderr naming `mention`, no stack. */
function assertUsageFailure(args: string[], mention: string): void {
  const { status, stdout, stderr } = run(...args);
  const where = `tcptrace ${args.join(' ')}: stderr was ${JSON.stringify(stderr)}`;
  assert.equal(status, 2, where);
  assert.equal(stdout, '', where);
  assert.ok(!stderr.includes('    at '), `stack trace: ${where}`);
  assert.match(stderr, /^tcptrace: [^\n]+\n$/, `not one line: ${where}`);
  assert.ok(stderr.includes(mention), `does not mention ${mention}: ${where}`);
}

// ---- every flag that takes a value, with values it must refuse -------------

/** Arguments each command needs besides the flag under test. */
const BASE_ARGS: Record<string, string[]> = {
  live: [], life: [], hist: [], culprits: [], snapshot: [], doctor: [], serve: [],
  record: ['-o', path.join(dir, 'rec.jsonl')],
  report: [TRACE],
  export: [TRACE, '-o', OUT],
};

const PIDS = ['0', 'x', '1.5', '4194305', '1,2,3,4,5,6,7,8,9', ','];
const PORTS = ['0', '65536', 'http', '-1', '1,2,3,4,5,6,7,8,9', ','];
const STATES = ['FOO', ',', 'ESTABLISHED,NOPE'];
const SECONDS = ['abc', '0', '-1', '1e3', '31536001', '', '5s'];
const RING = ['3M', '32K', '2G', 'lots', '0', '-8M'];
const OUTPUT = [MISSING_DIR_FILE, dir, ''];
const NETNS = ['no-such-netns-xyz', 'pid:x', 'pid:0', ',', '1,2,3,4,5,6,7,8,9'];
const CGROUPS = ['/no/such/cgroup/here', 'ffffffffffffffffff'];
const FILTER_VALUES = {
  '--pid': PIDS, '--port': PORTS, '--state': STATES, '--ring-buffer': RING, '--netns': NETNS, '--cgroup': CGROUPS,
};
const RUN_VALUES = { ...FILTER_VALUES, '--duration': SECONDS };
const RECORD_VALUES = { '--record': OUTPUT, '--record-format': ['xml', 'JSONL'] };
/** bcc's -L and -D: answered with tcptrace's -P, whatever the value. */
const BCC_VALUES = { '--local-port': ['8080'], '--remote-port': ['80,443'] };

/**
 * For each command, each flag that takes a value: values that must be refused.
 * The test below fails if a command gains such a flag without an entry here.
 */
const BAD_VALUES: Record<string, Record<string, string[]>> = {
  live: { ...RUN_VALUES, ...BCC_VALUES, '--top': ['0', '1001', 'ten'] },
  life: { ...RUN_VALUES, ...RECORD_VALUES, ...BCC_VALUES },
  hist: { ...RUN_VALUES, ...RECORD_VALUES, '--by': ['host', ''], '--interval': SECONDS, '--unit': ['ns', 's'] },
  culprits: {
    ...RECORD_VALUES, '--duration': SECONDS, '--interval': SECONDS, '--min-age': SECONDS, '--pid': PIDS, '--ring-buffer': RING,
    '--cgroup': CGROUPS, '--top': ['0', 'ten', '-1'], '--port': PORTS, '--comm': [',', 'a-name-longer-than-15'], '--sort': ['pid', ''],
  },
  snapshot: {
    '--by': ['owner', ''], '--top': ['0', 'ten', '-1'], '--state': STATES, '--port': ['0', '65536', 'http', ','],
    '--sport': ['0', ':x'], '--dport': ['65536', ''],
  },
  doctor: { '--duration': SECONDS },
  serve: {
    ...FILTER_VALUES, '--listen': ['localhost', '127.0.0.1:70000', '[::1', ':x', ''], '--interval': ['0', '0.01', '3601', 'x'],
    '--top': ['0', 'ten'],
  },
  record: { ...FILTER_VALUES, '--duration': SECONDS, '--output': OUTPUT, '--format': ['xml', 'gz'] },
  report: {
    '--by': ['host'], '--unit': ['ns'], '--min-age': SECONDS, '--pid': PIDS, '--output': OUTPUT, '--top': ['0', 'ten'],
    '--port': PORTS, '--comm': [','], '--sort': ['size'], '--netns': NETNS, '--cgroup': ['', '  ', '/a/../b'],
  },
  export: { '--format': ['chrome', ''], '--output': OUTPUT },
};

/** Positional arguments with a fixed set of values: values they must refuse. */
const BAD_ARGUMENTS: Record<string, Record<string, string[]>> = {
  report: { report: ['nope', 'SUMMARY'] },
};

type Outcome = { accepted: true } | { accepted: false; exitCode: number; line: string };

/**
 * Parses in this process, up to the action (never run: a preAction hook stops
 * there), and says how tcptrace would exit. The CLI's fail() maps commander's
 * errors to exit 2 and prints a TcptraceError's message after "tcptrace: ".
 */
async function parse(args: string[]): Promise<Outcome> {
  const program = buildProgram();
  let stderr = '';
  for (const command of [program, ...program.commands]) {
    command.configureOutput({ writeErr: (text) => { stderr += text; }, writeOut: () => {} });
    command.hook('preAction', () => { throw new Error('accepted'); });
  }
  try {
    await program.parseAsync(['node', 'tcptrace', ...args]);
    return { accepted: true };
  } catch (err) {
    if (err instanceof CommanderError) return { accepted: false, exitCode: 2, line: stderr };
    if (err instanceof TcptraceError) return { accepted: false, exitCode: err.exitCode, line: `tcptrace: ${err.message}\n` };
    if (err instanceof Error && err.message === 'accepted') return { accepted: true };
    throw err;
  }
}

function valueFlags(command: Command): string[] {
  return command.options.filter((o) => o.required || o.optional).map((o) => o.long!);
}

describe('every flag value is validated', () => {
  const program = buildProgram();

  test('every flag that takes a value has bad values in this table (a new flag needs some)', () => {
    for (const command of program.commands) {
      const name = command.name();
      assert.ok(BASE_ARGS[name], `no BASE_ARGS for command ${name}`);
      assert.deepEqual(Object.keys(BAD_VALUES[name] ?? {}).sort(), valueFlags(command).sort(), `bad values for ${name}'s flags`);
      const choiceArgs = command.registeredArguments.filter((a) => a.argChoices).map((a) => a.name());
      assert.deepEqual(Object.keys(BAD_ARGUMENTS[name] ?? {}).sort(), choiceArgs.sort(), `bad values for ${name}'s arguments`);
    }
  });

  for (const command of program.commands) {
    const name = command.name();
    const cases = [
      ...Object.entries(BAD_VALUES[name] ?? {}).flatMap(([flag, values]) => values.map((v) => ({ args: [flag, v], mention: flag }))),
      ...Object.entries(BAD_ARGUMENTS[name] ?? {}).flatMap(([arg, values]) => values.map((v) => ({ args: [v], mention: v }))),
    ];
    test(`${name}: ${cases.length} bad values, each refused with one line and exit 2`, async () => {
      for (const { args, mention } of cases) {
        // A flag given twice is still checked: the bad value may come second.
        const full = [name, ...BASE_ARGS[name], ...args];
        const outcome = await parse(full);
        const where = `tcptrace ${full.map((a) => JSON.stringify(a)).join(' ')}`;
        assert.equal(outcome.accepted, false, `${where} was accepted`);
        if (outcome.accepted) continue;
        assert.equal(outcome.exitCode, 2, where);
        assert.match(outcome.line, /^tcptrace: [^\n]+\n$/, `${where}: ${JSON.stringify(outcome.line)}`);
        const named = mention === '' ? true : outcome.line.includes(mention) || outcome.line.includes(mention.replace(/^--/, '-'));
        assert.ok(named, `${where}: ${JSON.stringify(outcome.line)} does not name ${mention}`);
      }
    });
  }

  test('good values are accepted (the table above does not refuse everything)', async () => {
    const good = [
      ['live', '-p', '1,2', '-P', '80', '-s', 'CLOSE_WAIT', '--ring-buffer', '16M', '-d', '0.5', '--top', '3', '-4'],
      ['hist', '-b', 'pid', '-i', '2', '-u', 'ms', '-r', path.join(dir, 'h.jsonl.gz'), '--record-format', 'json'],
      ['culprits', '-w', '-i', '1', '--min-age', '2', '-p', '7', '--top', '20', '-P', '8080', '--comm', 'java,node', '--sort', 'age'],
      ['snapshot', 'state', 'close-wait', '(', 'sport', '=', ':8080', 'or', 'sport', '=', ':443', ')', '-s', 'fin-wait-1,connected', '--dport', ':5432'],
      ['live', '-s', 'time-wait,listening,bucket'],
      ['life', '-T', '-P', '80'],
      ['record', '-o', path.join(dir, 'r.jsonl'), '--format', 'json', '-6'],
      ['report', TRACE, 'hist', '--by', 'port', '-u', 'ms'],
      ['report', TRACE, '--html', '-o', path.join(dir, 'r.html')],
      ['export', TRACE, '-o', OUT],
    ];
    for (const args of good) assert.deepEqual(await parse(args), { accepted: true }, args.join(' '));
  });
});

// ---- through the real command line: exit code, one line, no stack ---------

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
  [['life', '-L', '8080'], "-L/--local-port is bcc's local port filter: tcptrace's is -P 8080"],
  [['live', '-D', '443'], "-D/--remote-port is bcc's remote port filter: tcptrace's is -P 443"],
  [['live', '--duration'], '--duration'],
  [['live', 'extra'], 'too many arguments'],
  [['live', '--events', '--json'], '--json'],
  [['live', '-4', '-6'], '--ipv6'],
  [['frobnicate'], 'frobnicate'],
  [['snapshot', '--by', 'color'], '--by'],
  [['snapshot', '--top', '0'], '--top'],
  [['snapshot', 'extra'], 'snapshot filter: "extra" is not understood'],
  [['doctor', '--duration', 'abc'], '--duration'],
  [['doctor', '-d', '0'], '--duration'],
  [['hist', '--by', 'host'], '--by'],
  [['record'], '--output'],
  [['record', '-o', MISSING_DIR_FILE], 'does not exist'],
  [['life', '--record', dir], 'is a directory'],
  [['culprits', '--interval', '2'], '--watch'],
  [['report', TRACE, 'life', '--by', 'pid'], '--by'],
  [['report', TRACE, 'summary', '--pid', '1'], '--pid'],
  [['report', TRACE, 'hist', '--html', '-o', OUT], '--html'],
  [['report', TRACE, '--html'], '-o'],
  [['report', TRACE, '-o', OUT], '--html'],
  [['report', TRACE, 'nope'], 'nope'],
  [['export', TRACE, '-o', TRACE], 'is the trace being read'],
  [['export', TRACE, '-o', MISSING_DIR_FILE], 'does not exist'],
];

for (const [args, mention] of BAD_USAGE) {
  test(`usage error: tcptrace ${args.join(' ')}`, () => assertUsageFailure(args, mention));
}

test('our own usage errors say what was wrong with the value', () => {
  assert.equal(run('live', '--port', '70000').stderr, 'tcptrace: --port: 70000 is out of range (1-65535)\n');
  assert.equal(run('live', '-P', '80', '-P', '443,22', '--port', '1,2,3,4,5,6').stderr,
    'tcptrace: --port: at most 8 values (got 9)\n');
  assert.equal(run('record', '-o', MISSING_DIR_FILE).stderr,
    `tcptrace: --output: directory ${path.dirname(MISSING_DIR_FILE)} does not exist\n`);
});

test('an input file that cannot be read: one line naming it, exit 1, no output written', () => {
  for (const [input, reason] of [[path.join(dir, 'missing.jsonl'), 'no such file'], [dir, 'is a directory']]) {
    for (const args of [['report', input], ['export', input, '-o', path.join(dir, 'never.json')]]) {
      const { status, stdout, stderr } = run(...args);
      assert.equal(status, 1, stderr);
      assert.equal(stdout, '');
      assert.equal(stderr, `tcptrace: ${input}: ${reason}\n`);
    }
  }
  assert.equal(fs.existsSync(path.join(dir, 'never.json')), false, 'export created no output for a bad input');
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

// ---- first contact: examples and where to start ------------------------------

/** A command line as a shell splits it, up to its first pipe: 'a b' stays one word. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  for (const m of line.split(' | ')[0].matchAll(/'([^']*)'|(\S+)/g)) words.push(m[1] ?? m[2]);
  return words;
}

describe('--help ends with examples, and each of them parses', () => {
  const program = buildProgram();
  for (const command of program.commands) {
    const name = command.name();
    if (name === 'help') continue;
    test(`${name} --help`, async () => {
      const { status, stdout } = run(name, '--help');
      assert.equal(status, 0);
      const tail = stdout.slice(stdout.lastIndexOf('\nExamples:\n') + 1).trimEnd().split('\n');
      assert.equal(tail[0], 'Examples:', stdout);
      const examples = tail.slice(1).filter((l) => /^ {2}\S/.test(l)).map((l) => l.trim());
      assert.ok(examples.length >= 2 && examples.length <= 4, `${examples.length} examples`);
      assert.deepEqual(tail.slice(1).filter((l) => !/^ {2}\S/.test(l)).length, examples.length, 'one line saying what each answers');
      assert.ok(stdout.split('\n').every((l) => l.length <= 80 || /^ {2}-/.test(l)), 'examples fit 80 columns');
      for (const example of examples) {
        const words = shellWords(example).filter((w) => w !== 'sudo');
        assert.equal(words[0], 'tcptrace', example);
        assert.equal(words[1], name, example);
        // Their files need not exist to parse, but an --output's directory must.
        const args = words.slice(1).map((w) => (/\.(jsonl|json|html|gz)$/.test(w) && !w.startsWith('/') ? path.join(dir, w) : w));
        assert.deepEqual(await parse(args), { accepted: true }, example);
      }
    });
  }

  test('tcptrace alone, and --help, point from a symptom to a command', () => {
    for (const args of [[], ['--help']]) {
      const { stdout, stderr } = run(...args);
      const text = stdout + stderr;
      assert.match(text, /^Where to start:$/m, text);
      assert.match(text, /^ {2}many sockets in CLOSE_WAIT +sudo tcptrace culprits$/m);
      assert.match(text, /^ {2}many sockets in TIME_WAIT, or connect\(\) fails +sudo tcptrace doctor$/m);
    }
  });
});
