/** Shared pieces of the real-BPF tests: peer processes, event collection, checks. */
import * as fs from 'node:fs';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { TransitionEvent } from '../../src/kernel/decoder';
import { SessionOptions, TraceSession } from '../../src/kernel/session';
import { stateName } from '../../src/kernel/states';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const CLI = path.join(ROOT, 'bin', 'tcptrace');
export const FIXTURES = path.resolve(__dirname, '..', 'fixtures');

type Message = { event?: string } & Record<string, unknown>;

/** Resolves when check() holds, polling; rejects after timeoutMs. */
export async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const running = new Set<ChildProcess>();

/** Ends every child a test started and left running (after a failure, say), so
 *  one failing test cannot leave a tracer attached for the tests after it. */
export function killStragglers(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

/** A child process speaking JSON lines on stdout. */
export class LineProcess {
  readonly messages: Message[] = [];
  readonly child: ChildProcess;
  stderr = '';

  constructor(command: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    running.add(this.child);
    this.child.once('exit', () => running.delete(this.child));
    readline.createInterface({ input: this.child.stdout! }).on('line', (line) => {
      try { this.messages.push(JSON.parse(line)); } catch { this.messages.push({ text: line }); }
    });
    this.child.stderr!.on('data', (d) => { this.stderr += d; });
  }

  get pid(): number {
    return this.child.pid!;
  }

  async next(event: string, timeoutMs = 5000): Promise<Message> {
    await until(`"${event}" from pid ${this.pid}`, () => this.messages.some((m) => m.event === event), timeoutMs);
    return this.messages.find((m) => m.event === event)!;
  }

  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  exited(): Promise<number | null> {
    if (this.child.exitCode !== null) return Promise.resolve(this.child.exitCode);
    return new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }
}

/** What a peer does when the other side's FIN arrives: close too, or hold CLOSE_WAIT. */
export type OnEnd = 'close' | 'hold';

export function peer(role: 'server' | 'client', host: string, port: number, onEnd: OnEnd = 'close'): LineProcess {
  return new LineProcess(process.execPath, [path.join(FIXTURES, 'tcp-peer.js'), role, host, String(port), '--on-end', onEnd]);
}

/**
 * A network namespace of the test's own, loopback up, and tcp-peers run inside
 * it (ip netns exec execs them: the pid is the peer's). close() ends them and
 * removes it.
 */
export class TestNetns {
  /** Its inode, as events, ss and lsns name it. */
  readonly inode: number;
  private readonly peers: LineProcess[] = [];

  constructor(readonly name: string) {
    execFileSync('ip', ['netns', 'add', name]);
    execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    this.inode = fs.statSync(`/run/netns/${name}`).ino;
  }

  peer(role: 'server' | 'client', host: string, port: number, onEnd: OnEnd = 'close'): LineProcess {
    const p = new LineProcess('ip', ['netns', 'exec', this.name, process.execPath, path.join(FIXTURES, 'tcp-peer.js'), role, host, String(port), '--on-end', onEnd]);
    this.peers.push(p);
    return p;
  }

  async close(): Promise<void> {
    for (const p of this.peers) p.send('exit');
    await Promise.all(this.peers.map((p) => p.exited()));
    execFileSync('ip', ['netns', 'del', this.name]);
  }
}

export interface Pair {
  server: LineProcess;
  client: LineProcess;
  port: number;
  clientPort: number;
}

/** A server process and a client process with one established connection. */
export async function connectPair(host: string, serverOnEnd: OnEnd = 'close', clientOnEnd: OnEnd = 'close'): Promise<Pair> {
  const server = peer('server', host, 0, serverOnEnd);
  const port = (await server.next('listening')).port as number;
  const client = peer('client', host, port, clientOnEnd);
  const clientPort = (await client.next('connected')).localPort as number;
  await server.next('accepted');
  return { server, client, port, clientPort };
}

export async function exitAll(...processes: LineProcess[]): Promise<void> {
  for (const p of processes) p.send('exit');
  await Promise.all(processes.map((p) => p.exited()));
}

/** A tracing session in this process that keeps every event it receives. */
export class Recorder {
  readonly events: TransitionEvent[] = [];
  readonly session: TraceSession;

  constructor(options: SessionOptions = {}) {
    this.session = TraceSession.open(options);
    this.session.snapshot();
    this.session.start({ onEvents: (events) => { this.events.push(...events); } });
  }

  /**
   * Where a test's own events begin. A port number is reused on a busy host (a
   * storm alongside leaves few free): an earlier test's sockets on it are not
   * this test's.
   */
  mark(): number {
    return this.events.length;
  }

  /** The events on this port (local or remote), from `from` (a mark) on. */
  onPort(port: number, from = 0): TransitionEvent[] {
    return this.events.slice(from).filter((e) => e.sport === port || e.dport === port);
  }

  async waitFor(what: string, check: (events: TransitionEvent[]) => boolean, timeoutMs = 5000, from = 0): Promise<void> {
    await until(what, () => check(from ? this.events.slice(from) : this.events), timeoutMs);
  }

  stop(): Promise<void> {
    return this.session.stop();
  }
}

export function transitionsOf(events: TransitionEvent[]): string[] {
  return events.map((e) => `${stateName(e.oldstate)}>${stateName(e.newstate)}`);
}

/** Events grouped per socket life, in arrival order. */
export function bySocket(events: TransitionEvent[]): Map<number, TransitionEvent[]> {
  const out = new Map<number, TransitionEvent[]>();
  for (const e of events) {
    if (!out.has(e.sockId)) out.set(e.sockId, []);
    out.get(e.sockId)!.push(e);
  }
  return out;
}

/** The socket whose first event is this transition (and matches more). */
export function socketStartingWith(events: TransitionEvent[], first: string, match: (e: TransitionEvent) => boolean = () => true): TransitionEvent[] {
  const found = [...bySocket(events).values()].filter((evs) => transitionsOf(evs)[0] === first && match(evs[0]));
  if (found.length !== 1) {
    throw new Error(`expected one socket starting with ${first}, found ${found.length}: ${JSON.stringify(transitionsOf(events))}`);
  }
  return found[0];
}

/**
 * Ids of the BPF programs a process holds (its program and link fds), read
 * from /proc/PID/fdinfo. Checking these ids, not program names, keeps the
 * "nothing left attached" checks right while another tcptrace runs.
 */
export function bpfProgramIdsOf(pid: number): number[] {
  const ids = new Set<number>();
  const dir = `/proc/${pid}/fdinfo`;
  for (const fd of fs.readdirSync(dir)) {
    let info = '';
    try { info = fs.readFileSync(`${dir}/${fd}`, 'utf8'); } catch { continue; } // closed meanwhile
    const match = /^prog_id:\s*(\d+)/m.exec(info);
    if (match) ids.add(Number(match[1]));
  }
  return [...ids];
}

/** The names of the BPF programs a process holds (bpftool's, at most 15 characters). */
export function bpfProgramNamesOf(pid: number): string[] {
  const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'list'], { encoding: 'utf8' })) as { id: number; name?: string }[];
  const held = new Set(bpfProgramIdsOf(pid));
  return progs.filter((p) => held.has(p.id)).map((p) => p.name ?? '');
}

/** Which of these BPF program ids the kernel still has loaded. */
export function stillLoaded(ids: number[]): number[] {
  const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'list'], { encoding: 'utf8' })) as { id: number }[];
  const loaded = new Set(progs.map((p) => p.id));
  return ids.filter((id) => loaded.has(id));
}

/** tcptrace's BPF program names (bpf/tcptrace.bpf.c), as the kernel lists them. */
const TCPTRACE_PROGRAMS = new Set([
  'on_set_state', 'on_set_state_nested', 'on_send', 'on_recv', 'on_accept4_exit', 'on_accept_exit',
  'snapshot_socks', 'snapshot_files', 'count_states',
]);

function loadedPrograms(): { id: number; name?: string }[] {
  return JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'list'], { encoding: 'utf8' })) as { id: number; name?: string }[];
}

/** The highest BPF program id loaded now: programs loaded later have higher ids. */
export function lastProgramId(): number {
  return Math.max(0, ...loadedPrograms().map((p) => p.id));
}

/** Every BPF program id some live process holds an fd of (program or link). */
function programIdsHeldByProcesses(): Set<number> {
  const held = new Set<number>();
  for (const pid of fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      for (const id of bpfProgramIdsOf(Number(pid))) held.add(id);
    } catch { /* exited meanwhile, or a kernel thread */ }
  }
  return held;
}

/**
 * tcptrace programs loaded after `sinceId` that no process holds: what a
 * tracer would leave attached (pinned, or a leaked link) after it exited.
 * For a tracer whose program ids cannot be read while it runs (it may stop
 * within milliseconds of attaching); other tracers running now hold theirs.
 */
export function orphanedPrograms(sinceId: number): number[] {
  const candidates = loadedPrograms().filter((p) => p.id > sinceId && TCPTRACE_PROGRAMS.has(p.name ?? '')).map((p) => p.id);
  if (candidates.length === 0) return [];
  const held = programIdsHeldByProcesses();
  return candidates.filter((id) => !held.has(id));
}

/** One loopback connection between two processes, the client closing first; returns the server's port. */
export async function oneConnection(host = '127.0.0.1'): Promise<number> {
  const server = peer('server', host, 0);
  const port = (await server.next('listening')).port as number;
  const client = peer('client', host, port);
  await client.next('connected');
  client.send('close');
  await client.next('closed');
  server.send('exit');
  client.send('exit');
  await Promise.all([server.exited(), client.exited()]);
  return port;
}
