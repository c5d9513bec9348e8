/**
 * `tcptrace serve` scraped by a real Prometheus (Debian's prometheus package,
 * started here on loopback with its own config and data directory): the
 * gauges, counters and histograms Prometheus stores match a known loopback
 * workload exactly. Also: promtool accepts the live output, signals end it
 * cleanly, and it runs with only the deployment files' capabilities.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { bpfProgramIdsOf, CLI, FIXTURES, killStragglers, LineProcess, ROOT, stillLoaded, until } from './helpers';

after(killStragglers);

type Sample = { metric: Record<string, string>; value: number };

/** Polls an async check every 250 ms until it holds; rejects after timeoutMs. */
/** A port on 127.0.0.1 nobody listens on now (or `port` itself, once it can be bound). */
function freePort(port = 0): Promise<number> {
  const server = net.createServer();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const bound = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(bound));
    });
  });
}

async function eventually(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Starts `tcptrace serve` (under `wrap`, e.g. setpriv, if given); resolves with its base URL once it serves. */
async function startServe(args: string[], wrap: string[] = []): Promise<{ serve: LineProcess; url: string }> {
  const [command, ...prefix] = [...wrap, process.execPath];
  const serve = new LineProcess(command, [...prefix, CLI, 'serve', '--listen', '127.0.0.1:0', ...args, '-v']);
  await until('tcptrace serve to serve', () => /serving metrics at/.test(serve.stderr) || serve.child.exitCode !== null, 15_000);
  const match = /serving metrics at (http:\/\/\S+)\/metrics/.exec(serve.stderr);
  assert.ok(match, `serve started: ${serve.stderr}`);
  return { serve, url: match[1] };
}

async function get(url: string, init: RequestInit = {}): Promise<{ status: number; text: string; type: string | null }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
  return { status: res.status, text: await res.text(), type: res.headers.get('content-type') };
}

/** Ends serve with a signal: exit 0, said so on stderr, no stack, programs released, port closed. */
async function stopCleanly(serve: LineProcess, healthz: () => Promise<unknown>, signal: NodeJS.Signals): Promise<void> {
  const programs = bpfProgramIdsOf(serve.pid);
  assert.ok(programs.length >= 2, `serve holds its BPF programs (${programs.length})`);
  serve.child.kill(signal);
  assert.equal(await serve.exited(), 0, serve.stderr);
  assert.match(serve.stderr, new RegExp(`stopping \\(${signal}\\)`));
  assert.doesNotMatch(serve.stderr, /\n\s+at /, 'no stack trace');
  await until('BPF programs to be released', () => stillLoaded(programs).length === 0, 3000);
  await assert.rejects(healthz(), 'the listener is closed');
}

async function stopPrometheus(prometheus: LineProcess): Promise<void> {
  if (prometheus.child.exitCode !== null) return;
  prometheus.child.kill('SIGTERM');
  const exited = prometheus.exited();
  const killed = setTimeout(() => prometheus.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(killed);
}

/** Runs a command inside a network namespace (ip netns exec execs it: the pid is the command's). */
function inNetns(netns: string, command: string, args: string[]): LineProcess {
  return new LineProcess('ip', ['netns', 'exec', netns, command, ...args]);
}

/** An HTTP request over a unix socket (to a unix-to-tcp proxy). */
function httpVia(socketPath: string, urlPath: string, method = 'GET'): Promise<{ status: number; text: string; type: string | null }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path: urlPath, method, timeout: 5000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { text += chunk; });
      res.on('end', () => resolve({ status: res.statusCode!, text, type: res.headers['content-type'] ?? null }));
    });
    req.on('timeout', () => req.destroy(new Error(`${urlPath}: no answer in 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * The workload, tcptrace serve and Prometheus all run in a network namespace
 * made for this test: the socket counts there are exactly the workload's (no
 * other engineer's TIME_WAIT sockets, and its own TIME_WAIT bucket limit).
 * Its port range is set below the host's ephemeral range, so no connection
 * elsewhere on the machine carries the workload's ports (the kernel's port
 * filter does not look at namespaces).
 */
describe('tcptrace serve, scraped by Prometheus, on a known loopback workload', () => {
  const CONNECTIONS = 20; // to a server that closes first
  const HELD = 3; // connections the server closes and the client never does: CLOSE_WAIT
  const netns = `tcptrace-serve-${process.pid}`;
  const rangeLow = 20000 + 1000 * Math.floor(Math.random() * 11);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcptrace-prometheus-'));
  const serveSocket = path.join(dir, 'serve.sock'), prometheusSocket = path.join(dir, 'prometheus.sock');
  const started: LineProcess[] = [];
  let storm: LineProcess, peerServer: LineProcess, serve: LineProcess, prometheus: LineProcess | undefined;
  let stormPort = 0, peerPort = 0;

  const start = (p: LineProcess) => { started.push(p); return p; };
  const ip = (...args: string[]) => {
    const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.stderr}`);
  };

  before(async () => {
    ip('netns', 'add', netns);
    ip('-n', netns, 'link', 'set', 'lo', 'up');
    ip('netns', 'exec', netns, 'sh', '-c', `echo ${rangeLow} ${rangeLow + 999} > /proc/sys/net/ipv4/ip_local_port_range`);
    storm = start(inNetns(netns, process.execPath, [path.join(FIXTURES, 'storm.js'), '127.0.0.1', String(CONNECTIONS), '5']));
    await until('the storm server', () => storm.messages.length > 0);
    stormPort = storm.messages[0].port as number;
    peerServer = start(inNetns(netns, process.execPath, [path.join(FIXTURES, 'tcp-peer.js'), 'server', '127.0.0.1', '0']));
    peerPort = (await peerServer.next('listening')).port as number;

    serve = start(inNetns(netns, process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:9466', '--interval', '0.5', '--port', `${stormPort},${peerPort}`, '-v']));
    await until('tcptrace serve to serve', () => /serving metrics at/.test(serve.stderr) || serve.child.exitCode !== null, 15_000);
    assert.match(serve.stderr, /serving metrics at http:\/\/127\.0\.0\.1:9466\/metrics\n/);
    for (const [socket, port] of [[serveSocket, 9466], [prometheusSocket, 9090]] as const) {
      await start(inNetns(netns, process.execPath, [path.join(FIXTURES, 'unix-to-tcp.js'), socket, String(port)])).next('listening');
    }

    const config = path.join(dir, 'prometheus.yml');
    fs.writeFileSync(config, [
      'global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }',
      'scrape_configs:',
      '  - { job_name: tcptrace, static_configs: [ { targets: ["127.0.0.1:9466"] } ] }',
      '',
    ].join('\n'));
    prometheus = start(inNetns(netns, 'prometheus', [
      `--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, '--web.listen-address=127.0.0.1:9090', '--log.level=warn',
    ]));
    await eventually('Prometheus to be ready', async () => {
      if (prometheus!.child.exitCode !== null) throw new Error(`prometheus exited: ${prometheus!.stderr}`);
      return (await httpVia(prometheusSocket, '/-/ready')).status === 200;
    }, 30_000);
  });

  after(async () => {
    if (prometheus) await stopPrometheus(prometheus);
    for (const p of started) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await Promise.all(started.map((p) => p.exited()));
    spawnSync('ip', ['netns', 'delete', netns]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function query(expr: string): Promise<Sample[]> {
    const { status, text } = await httpVia(prometheusSocket, `/api/v1/query?query=${encodeURIComponent(expr)}`);
    assert.equal(status, 200, text);
    return JSON.parse(text).data.result.map((r: { metric: Record<string, string>; value: [number, string] }) => ({ metric: r.metric, value: Number(r.value[1]) }));
  }

  /** What Prometheus has now, in the shape the expectations are written in. */
  async function stored(): Promise<Record<string, unknown>> {
    const byLabels = (samples: Sample[], ...labels: string[]) =>
      Object.fromEntries(samples.map((s) => [labels.map((l) => s.metric[l]).join(' '), s.value]));
    const one = async (expr: string) => (await query(expr)).map((s) => s.value);
    return {
      transitions: byLabels(await query('tcptrace_transitions_total'), 'old_state', 'new_state'),
      sockets: byLabels(await query(`tcptrace_sockets{netns="${fs.statSync(`/run/netns/${netns}`).ino}"} != 0`), 'state'),
      closeWaitHeld: byLabels(await query('tcptrace_close_wait_held_sockets'), 'pid', 'comm', 'service'),
      closeWaitHolders: await one('tcptrace_close_wait_holder_processes'),
      connectCount: await one('tcptrace_connect_latency_seconds_count'),
      connectUnder1s: await one('tcptrace_connect_latency_seconds_bucket{le="1"}'),
      acceptCount: await one('tcptrace_accept_queue_wait_seconds_count'),
      lifetimeCount: await one('tcptrace_connection_lifetime_seconds_count'),
      closeWaitCount: await one('tcptrace_close_wait_duration_seconds_count'),
      ephemeralPorts: await one('tcptrace_ephemeral_ports'),
    };
  }

  test('Prometheus scrapes it', async () => {
    let up: Sample[] = [];
    await eventually('Prometheus to scrape tcptrace', async () => {
      up = await query('up{job="tcptrace"}');
      return up.length === 1 && up[0].value === 1;
    }, 20_000).catch(() => {});
    assert.deepEqual(up.map((s) => s.value), [1], 'the target is up');
    assert.deepEqual((await query('tcptrace_build_info')).map((s) => s.metric.version), [require(path.join(ROOT, 'package.json')).version]);
  });

  test('states, transitions, holders and histograms in Prometheus match the workload', async () => {
    storm.send('go');
    assert.equal(await storm.exited(), 0, storm.stderr);
    assert.deepEqual([storm.messages[1].done, storm.messages[1].failed], [CONNECTIONS, 0], 'the storm completed');
    const pool = start(inNetns(netns, process.execPath, [path.join(FIXTURES, 'pool-client.js'), '127.0.0.1', String(peerPort), String(HELD)]));
    await pool.next('connected');
    await until('the server to accept the pool', () => peerServer.messages.filter((m) => m.event === 'accepted').length === HELD);
    const pooledAtMs = Date.now();
    peerServer.send('close'); // FIN on each; the pool never closes its side

    const n = CONNECTIONS, all = CONNECTIONS + HELD;
    const expected = {
      transitions: {
        'CLOSE SYN_SENT': all, 'CLOSE_WAIT LAST_ACK': n, 'ESTABLISHED CLOSE_WAIT': all, 'ESTABLISHED FIN_WAIT1': all,
        'FIN_WAIT1 FIN_WAIT2': all, 'FIN_WAIT2 CLOSE': n, 'LAST_ACK CLOSE': n, 'LISTEN CLOSE': 1,
        'LISTEN SYN_RECV': all, 'SYN_RECV ESTABLISHED': all, 'SYN_SENT ESTABLISHED': all,
      },
      // The storm's server closed first: its side of each connection is in TIME_WAIT for 60 s.
      // The pool's: FIN_WAIT2 on the server side, CLOSE_WAIT held by the pool.
      sockets: { CLOSE_WAIT: HELD, FIN_WAIT2: HELD, LISTEN: 1, TIME_WAIT: n },
      // The pool's sockets, grouped as culprits groups them: by the service they connected to.
      closeWaitHeld: { [`${pool.pid} node 127.0.0.1:${peerPort}`]: HELD },
      closeWaitHolders: [1],
      connectCount: [all],
      connectUnder1s: [all],
      acceptCount: [all],
      // Finished connections, both ends; the pool's are still open.
      lifetimeCount: [2 * n],
      closeWaitCount: [n],
      ephemeralPorts: [1000],
    };
    let last: Record<string, unknown> = {};
    await eventually('Prometheus to store what the workload did', async () => {
      last = await stored();
      return isDeepStrictEqual(last, expected);
    }, 30_000).catch(() => {});
    assert.deepEqual(last, expected);
    // The pool's sockets never finish CLOSE_WAIT (no histogram sample): the gauge says how long the oldest has been in it.
    const pooledForS = (Date.now() - pooledAtMs) / 1000;
    const [oldest] = await query('tcptrace_close_wait_oldest_seconds');
    assert.ok(oldest.value > 0 && oldest.value <= pooledForS, `oldest in CLOSE_WAIT ${oldest.value} s, the pool's FINs came at most ${pooledForS} s ago`);

    // Prometheus computes from the buckets too: loopback connects take well under 10 ms.
    const [median] = await query('histogram_quantile(0.5, tcptrace_connect_latency_seconds_bucket)');
    assert.ok(median.value > 0 && median.value < 0.01, `median connect latency ${median.value} s`);
  });

  test('promtool check metrics accepts the live output; /healthz, /, 404 and 405 answer', async () => {
    const metrics = await httpVia(serveSocket, '/metrics');
    assert.equal(metrics.status, 200);
    assert.equal(metrics.type, 'text/plain; version=0.0.4; charset=utf-8');
    const check = spawnSync('promtool', ['check', 'metrics'], { input: metrics.text, encoding: 'utf8', timeout: 10_000 });
    assert.equal(check.status, 0, check.stdout + check.stderr);
    assert.equal((check.stdout + check.stderr).trim(), '');
    assert.match(metrics.text, /^tcptrace_close_wait_held_sockets\{pid="\d+",comm="node",container="",service="127\.0\.0\.1:\d+"\} 3$/m);
    assert.deepEqual(await httpVia(serveSocket, '/healthz'), { status: 200, text: 'ok\n', type: 'text/plain; charset=utf-8' });
    assert.equal((await httpVia(serveSocket, '/')).status, 200);
    assert.equal((await httpVia(serveSocket, '/metrics/extra')).status, 404);
    assert.equal((await httpVia(serveSocket, '//')).status, 404, 'an odd request target is a 404, not a crash');
    assert.equal((await httpVia(serveSocket, '/metrics', 'POST')).status, 405);
    const head = await httpVia(serveSocket, '/metrics', 'HEAD');
    assert.deepEqual([head.status, head.text], [200, '']);
  });

  test('SIGTERM: server closed, tracer detached, exit 0', async () => {
    await stopCleanly(serve, () => httpVia(serveSocket, '/healthz'), 'SIGTERM');
  });
});

describe('tcptrace serve, ending and privileges', () => {
  test('SIGINT ends it cleanly too', async () => {
    const { serve, url } = await startServe([]);
    assert.equal((await get(`${url}/healthz`)).status, 200);
    await stopCleanly(serve, () => get(`${url}/healthz`), 'SIGINT');
  });

  test('runs with only the capabilities the systemd unit and the DaemonSet grant', async () => {
    const unit = fs.readFileSync(path.join(ROOT, 'deploy', 'systemd', 'tcptrace.service'), 'utf8');
    const caps = /^CapabilityBoundingSet=(.*)$/m.exec(unit)![1].trim().split(/\s+/);
    const bounding = `-all,${caps.map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`).join(',')}`;
    const { serve, url } = await startServe(['--interval', '0.5'], ['setpriv', `--bounding-set=${bounding}`, '--inh-caps=-all', '--']);
    const status = fs.readFileSync(`/proc/${serve.pid}/status`, 'utf8');
    assert.equal(/^CapEff:\s*(\w+)$/m.exec(status)![1], '000000c000000000', 'exactly CAP_PERFMON and CAP_BPF');
    assert.deepEqual(await get(`${url}/healthz`), { status: 200, text: 'ok\n', type: 'text/plain; charset=utf-8' });
    const metrics = (await get(`${url}/metrics`)).text;
    assert.match(metrics, /^tcptrace_sockets\{netns="\d+",state="LISTEN"\} [1-9]\d*$/m, 'the socket walk works');
    await stopCleanly(serve, () => get(`${url}/healthz`), 'SIGTERM');
  });

  test('without CAP_PERFMON: one line naming the capabilities, exit 1, port released', async () => {
    const port = await freePort();
    const r = spawnSync('setpriv', ['--bounding-set=-all,+bpf,+net_admin', '--inh-caps=-all', '--', process.execPath, CLI, 'serve', '--listen', `127.0.0.1:${port}`],
      { encoding: 'utf8', timeout: 15_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^tcptrace: .*CAP_PERFMON/);
    // serve binds before it loads anything: the port was taken, and is free again.
    assert.equal(await freePort(port), port, 'the port is released');
  });
});
