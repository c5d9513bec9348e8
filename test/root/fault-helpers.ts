/** What the fault tests share: tracers as a user starts them, a connection, trace files checked end to end. */
import assert from 'node:assert/strict';
import { ChildProcess, spawnSync } from 'node:child_process';
import { stateName } from '../../src/kernel/states';
import { TraceLine } from '../../src/trace/format';
import { forEachTraceLine, TraceReadResult } from '../../src/trace/reader';
import { bpfProgramIdsOf, CLI, LineProcess, orphanedPrograms, stillLoaded, until } from './helpers';

export const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
}

/**
 * tcptrace in a network namespace of its own (unshare execs it: same pid).
 * It still traces every namespace, the tests' loopback traffic included, but
 * its start and end snapshots hold only that empty namespace's sockets: on a
 * host where others' tests leave 100,000 sockets, each recording would
 * otherwise carry 80 MB of them and take seconds to write and read back.
 */
export const TRACER = ['unshare', '-n', process.execPath, CLI];

export async function startTracer(args: string[]): Promise<LineProcess> {
  const [command, ...rest] = TRACER;
  const p = new LineProcess(command, [...rest, ...args, '-v']);
  await until('tcptrace to attach', () => /attached/.test(p.stderr), 10_000);
  return p;
}

/** Its BPF programs, read while it runs: at least the two transition programs. */
export function programsOf(p: LineProcess): number[] {
  const ids = bpfProgramIdsOf(p.pid);
  assert.ok(ids.length >= 2, `tcptrace holds its BPF programs (found ${ids.length})`);
  return ids;
}

export async function released(ids: number[]): Promise<void> {
  // Freed programs leave the kernel's list after an RCU grace period.
  await until('BPF programs to be released', () => stillLoaded(ids).length === 0, 3000);
}

export async function noOrphansSince(sinceId: number): Promise<void> {
  await until('no tcptrace program left without its process', () => orphanedPrograms(sinceId).length === 0, 5000);
}

export async function readWhole(file: string): Promise<{ lines: TraceLine[]; result: TraceReadResult }> {
  const lines: TraceLine[] = [];
  const result = await forEachTraceLine(file, (line) => { lines.push(line); });
  return { lines, result };
}

/** Per socket, its transitions as "OLD>NEW" joined by spaces; sorted. */
export function shapes(events: { sock: number; oldstate: string; newstate: string }[]): string[] {
  const perSocket = new Map<number, string[]>();
  for (const e of events) perSocket.set(e.sock, [...(perSocket.get(e.sock) ?? []), `${e.oldstate}>${e.newstate}`]);
  return [...perSocket.values()].map((s) => s.join(' ')).sort();
}

/** The shapes of the sockets on this port in a trace file. */
export function shapesOnPort(lines: TraceLine[], port: number): string[] {
  return shapes(lines.flatMap((l) => (l.type === 'event' && l.kind === 'transition' && (l.sport === port || l.dport === port)
    ? [{ sock: l.sockId, oldstate: stateName(l.oldstate), newstate: stateName(l.newstate) }] : [])));
}

/** oneConnection's sockets: the client closes first; the listener opens and closes while tracing. */
export const CLIENT_AND_SERVER_CHILD = [
  'CLOSE>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>FIN_WAIT1 FIN_WAIT1>FIN_WAIT2 FIN_WAIT2>CLOSE',
  'LISTEN>SYN_RECV SYN_RECV>ESTABLISHED ESTABLISHED>CLOSE_WAIT CLOSE_WAIT>LAST_ACK LAST_ACK>CLOSE',
  'CLOSE>LISTEN LISTEN>CLOSE',
].sort();

/** A complete trace: `report` reads it without a "cut off" note, and the reader agrees. */
export async function assertCompleteTrace(file: string): Promise<TraceLine[]> {
  const report = cli(['report', file]);
  assert.equal(report.status, 0, report.stderr);
  assert.doesNotMatch(report.stderr, /cut off/, `${file} is complete`);
  const { lines, result } = await readWhole(file);
  assert.equal(result.truncated, false, `${file} has its footer`);
  assert.equal(lines[0].type, 'header');
  assert.equal(lines.at(-1)!.type, 'footer');
  return lines;
}

/** A trace cut short: every whole line valid, `report` reads it and says it was cut off. */
export async function assertCutShortTrace(file: string): Promise<TraceLine[]> {
  const report = cli(['report', file]);
  assert.equal(report.status, 0, report.stderr);
  assert.match(report.stderr, /was cut off \(no footer\): the report covers it up to its last whole line/);
  const { lines, result } = await readWhole(file);
  assert.equal(result.truncated, true);
  assert.equal(lines[0].type, 'header');
  return lines;
}

export function noStackTrace(stderr: string): void {
  assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
  assert.doesNotMatch(stderr, /internal error/);
}

/** The commands that write a trace file, and how to ask them to. */
export const RECORDING_COMMANDS: { name: string; args: (file: string) => string[] }[] = [
  { name: 'record -o', args: (file) => ['record', '-o', file] },
  { name: 'life --record', args: (file) => ['life', '--json', '--record', file] },
  { name: 'hist --record', args: (file) => ['hist', '--json', '--record', file] },
  { name: 'culprits --record', args: (file) => ['culprits', '--json', '-d', '3600', '--record', file] },
];

/**
 * Each command with a signal, and the main recorder with all three: a test
 * file has a time budget (run-tests.js), and the RCU grace period before
 * freed programs leave the kernel's list costs about a second per test.
 */
export function signalCases<T extends { name: string }>(commands: T[]): { command: T; signal: (typeof SIGNALS)[number] }[] {
  return commands.flatMap((command, i) => (command.name === 'record -o'
    ? SIGNALS.map((signal) => ({ command, signal }))
    : [{ command, signal: SIGNALS[i % SIGNALS.length] }]));
}

export function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

