/**
 * The HTML report in a real browser (Debian's Chromium, driven by
 * playwright-core): it renders without errors, fetches nothing, shows the
 * culprits and charts it was given, and shows hostile strings as text; and
 * `report --html` of a real recording, with a real leak, opened the same way.
 *
 * Set TCPTRACE_KEEP_REPORT=1 to keep the page and its screenshot (the path is
 * printed as a diagnostic).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { chromium, BrowserContext, Page } from 'playwright-core';
import { CulpritReport } from '../../src/model/culprits';
import { SnapshotSocket, TransitionEvent } from '../../src/kernel/decoder';
import { renderHtmlReport } from '../../src/export/html';
import { HtmlReportInput } from '../../src/reports/html';
import { LatencySet } from '../../src/model/latency';
import { TCP } from '../../src/kernel/states';
import { Connection } from '../../src/model/tracker';
import { StateSeries } from '../../src/model/state-series';
import { CLI, LineProcess, connectPair, exitAll, killStragglers, until } from './helpers';

const CHROMIUM = '/usr/bin/chromium';
const HOSTILE_COMM = '<script>alert(1)</script>';
const HOSTILE_ADVICE = `"><img src=x onerror="alert(2)"> & 'quotes'`;
const S = 1e9;
const START_NS = 8_000_000_000;

function conn(): Connection {
  return {
    sockId: 1, family: 4, saddr: '10.0.0.1', sport: 40000, daddr: '10.0.0.2', dport: 80, netns: 1,
    pid: 42, comm: 'curl', cgroupId: null, ownerSource: 'syscall', openedBy: null, role: 'client', preexisting: false,
    startNs: START_NS, state: TCP.ESTABLISHED, stateSinceNs: START_NS, dwellNs: {}, closedFirst: null,
    synAcked: true, finAcked: false,
  };
}

function event(tsNs: number, sockId: number, oldstate: number, newstate: number, extra: Partial<TransitionEvent> = {}): TransitionEvent {
  return {
    kind: 'transition', tsNs, skaddr: 'ffff888100000000', sockId, family: 4, saddr: '10.0.0.1', sport: 40000 + sockId,
    daddr: '10.0.0.2', dport: 80, netns: 1, oldstate, newstate, prevStateNs: null, pid: 42, comm: 'curl',
    cgroupId: null, ownerSource: 'cached', inferred: false, txBytes: 0, rxBytes: 0, error: 0, peerFinReceived: false, idleNs: null,
    ...extra,
  };
}

function snapshotSocket(state: number, sockId: number): SnapshotSocket {
  return {
    skaddr: 'ffff888100000000', sockId, family: 4, saddr: '10.0.0.1', sport: 8080, daddr: '0.0.0.0', dport: 0,
    netns: 1, uid: 0, inode: sockId, state,
  };
}

const CULPRITS: CulpritReport = {
  sockets: 5, orphans: 1, observedMs: 30_000,
  culprits: [
    {
      pid: 4242, comm: 'python3', cmdline: 'python3 /srv/app/pool_client.py --workers 4',
      cgroup: `/system.slice/docker-${'5e'.repeat(32)}.scope`, container: '5e5e5e5e5e5e', count: 3,
      oldestAgeMs: 21_500, medianAgeMs: 12_000, ageIsLowerBound: false,
      sockets: [],
      groups: [
        { side: 'client', saddr: '10.0.0.1', sport: null, daddr: '10.0.0.2', dport: 8080, count: 2, oldestAgeMs: 21_500, medianAgeMs: 12_000, ageIsLowerBound: false, idleBeforeFinMs: 5000 },
        { side: 'client', saddr: 'fd00::1', sport: null, daddr: 'fd00::2', dport: 443, count: 1, oldestAgeMs: 3_000, medianAgeMs: 3_000, ageIsLowerBound: false, idleBeforeFinMs: null },
      ],
      advice: ['peer 10.0.0.2:8080 closes idle connections after ~5.0 s; this process keeps them idle longer and never reads the FIN'],
      netns: [4026531840],
    },
    {
      pid: 31337, comm: HOSTILE_COMM, cmdline: HOSTILE_COMM, cgroup: null, container: null, count: 2,
      oldestAgeMs: 30_000, medianAgeMs: 30_000, ageIsLowerBound: true,
      sockets: [],
      groups: [
        { side: 'server', saddr: '192.168.1.2', sport: 5432, daddr: '192.168.1.9', dport: null, count: 2, oldestAgeMs: 30_000, medianAgeMs: 30_000, ageIsLowerBound: true, idleBeforeFinMs: null },
      ],
      advice: [HOSTILE_ADVICE],
      netns: [4026531840],
    },
  ],
};

function input(): HtmlReportInput {
  const latency = new LatencySet('us');
  for (const us of [90, 120, 130, 250, 260, 270, 900, 2100]) latency.add('connect', us * 1e3, conn());
  for (const us of [3_000_000, 5_100_000, 5_200_000, 40_000_000]) latency.add('closeWait', us * 1e3, conn());

  const series = new StateSeries(1000);
  series.start([snapshotSocket(TCP.LISTEN, 1), snapshotSocket(TCP.ESTABLISHED, 2), snapshotSocket(TCP.TIME_WAIT, 0)], START_NS);
  let id = 10;
  for (let t = 0; t < 24; t++) {
    const sock = id++;
    series.apply(event(START_NS + t * S + 0.1 * S, sock, TCP.CLOSE, TCP.SYN_SENT));
    series.apply(event(START_NS + t * S + 0.2 * S, sock, TCP.SYN_SENT, TCP.ESTABLISHED));
    if (t % 3 === 0) series.apply(event(START_NS + t * S + 0.5 * S, sock, TCP.ESTABLISHED, TCP.CLOSE_WAIT));
    if (t % 3 === 1) {
      series.apply(event(START_NS + t * S + 0.6 * S, sock, TCP.ESTABLISHED, TCP.FIN_WAIT1));
      series.apply(event(START_NS + t * S + 0.7 * S, sock, TCP.FIN_WAIT1, TCP.FIN_WAIT2));
      series.apply(event(START_NS + t * S + 0.8 * S, sock, TCP.FIN_WAIT2, TCP.CLOSE, { peerFinReceived: true }));
    }
  }
  series.finish(START_NS + 30 * S);

  return {
    title: 'tcptrace report: web-1',
    host: 'web-1',
    kernel: '6.12.0-test',
    startTime: '2026-11-21T06:30:00.123Z',
    durationMs: 30_000,
    summary: [
      { label: 'Transitions', value: '96' },
      { label: 'Connections closed', value: '8' },
      { label: 'Lost events', value: '0' },
    ],
    culprits: CULPRITS,
    histograms: latency.toJson(),
    stateSeries: series.points(),
    startNs: START_NS,
  };
}

interface Visit {
  page: Page;
  consoleErrors: string[];
  pageErrors: string[];
  dialogs: string[];
  /** Every request that was not for the report file itself. */
  requests: string[];
}

let context: BrowserContext;
let dir: string;

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium package`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcptrace-html-'));
  context = await chromium.launchPersistentContext(path.join(dir, 'profile'), {
    executablePath: CHROMIUM,
    // headless through args: Playwright's own headless flag would be added beside ours.
    headless: false,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
    timeout: 15_000,
  });
});

after(async () => {
  await context?.close();
  if (!dir) return;
  if (process.env.TCPTRACE_KEEP_REPORT) fs.rmSync(path.join(dir, 'profile'), { recursive: true, force: true });
  else fs.rmSync(dir, { recursive: true, force: true });
});

async function visit(name: string, html: string): Promise<Visit> {
  const file = path.join(dir, `${name}.html`);
  fs.writeFileSync(file, html);
  const page = await context.newPage();
  const v: Visit = { page, consoleErrors: [], pageErrors: [], dialogs: [], requests: [] };
  page.on('console', (m) => { if (m.type() === 'error') v.consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => v.pageErrors.push(String(e)));
  page.on('dialog', (d) => { v.dialogs.push(d.message()); void d.dismiss(); });
  page.on('request', (r) => { if (!r.url().startsWith('file:')) v.requests.push(r.url()); });
  await page.route('**', (route) => (route.request().url().startsWith('file:') ? route.continue() : route.abort()));
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  return v;
}

test('the report renders in Chromium: no errors, no fetches, culprits, charts, screenshot', async (t) => {
  const html = renderHtmlReport(input());
  assert.doesNotMatch(html, /https?:\/\//i, 'a URL in the page');
  assert.doesNotMatch(html, /<(?:script|link|img|iframe|object|embed|image|use)\b/i, 'an element that loads something');
  const v = await visit('report', html);
  const { page } = v;
  assert.equal(await page.locator('[src], [href], [srcset]').count(), 0);

  const rows = await page.$$eval('#culprits tbody tr', (trs) => trs.map((tr) => tr.querySelector('td')!.textContent!.trim()));
  assert.deepEqual(rows, ['4242', '31337']);
  const firstRow = await page.textContent('#culprits tbody tr:first-child');
  assert.match(firstRow!, /python3 \/srv\/app\/pool_client\.py --workers 4/);
  assert.match(firstRow!, /comm python3, container 5e5e5e5e5e5e/);
  assert.match(firstRow!, /10\.0\.0\.1 -> 10\.0\.0\.2:8080 ×2/);
  assert.match(firstRow!, /\[fd00::2\]:443 ×1/);
  assert.match(firstRow!, /21\.5 s/);
  assert.match(firstRow!, /closes idle connections after ~5\.0 s/);

  // Two histograms (connect, closeWait) and the state chart, each drawn.
  const charts = await page.$$eval('.chart svg', (svgs) => svgs.map((s) => ({
    bars: s.querySelectorAll('rect').length,
    lines: s.querySelectorAll('polyline').length,
    width: s.getBoundingClientRect().width,
    height: s.getBoundingClientRect().height,
  })));
  assert.equal(charts.length, 3, JSON.stringify(charts));
  assert.ok(charts.every((c) => c.width > 300 && c.height > 150), JSON.stringify(charts));
  // connect: 90,120 | 130,250 | 260,270 | 900 | (none) | 2100 us: six buckets from 64-127, five bars.
  assert.equal(charts[0].bars, 5);
  const connectLabels = await page.$$eval('.chart:first-of-type svg text.tick', (ts) => ts.map((x) => x.textContent));
  assert.ok(connectLabels.includes('64-127') && connectLabels.includes('2048-4095'), connectLabels.join(' '));
  // One polyline per state ever non-zero at a point (SYN_SENT, FIN_WAIT1 and FIN_WAIT2 are between boundaries).
  const legend = await page.$$eval('ul.legend li > span:nth-child(2)', (s) => s.map((x) => x.textContent));
  assert.deepEqual(legend, ['ESTABLISHED', 'TIME_WAIT', 'CLOSE_WAIT', 'LISTEN']);
  assert.equal(charts[2].lines, 4);

  const png = path.join(dir, 'report.png');
  await page.screenshot({ path: png, fullPage: true });
  const bytes = fs.readFileSync(png);
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.ok(bytes.length > 10 * 1024, `screenshot is ${bytes.length} bytes`);
  t.diagnostic(`screenshot: ${png}`);

  assert.deepEqual(v.consoleErrors, []);
  assert.deepEqual(v.pageErrors, []);
  assert.deepEqual(v.requests, []);
  await page.close();
});

test('hostile strings from the trace are shown as text, never as markup', async () => {
  const v = await visit('hostile', renderHtmlReport({ ...input(), title: HOSTILE_COMM, host: HOSTILE_ADVICE }));
  const { page } = v;
  const row = page.locator('#culprits tbody tr').nth(1);
  assert.equal(await row.locator('code').textContent(), HOSTILE_COMM);
  assert.match((await row.textContent())!, /comm <script>alert\(1\)<\/script>/);
  assert.equal(await row.locator('ul.advice li').textContent(), HOSTILE_ADVICE);
  assert.equal(await page.title(), HOSTILE_COMM);
  assert.equal(await page.textContent('header dd'), HOSTILE_ADVICE);
  // Nothing made it into the DOM as an element or an attribute.
  assert.equal(await page.locator('script').count(), 0);
  assert.equal(await page.locator('img').count(), 0);
  assert.equal(await page.locator('[onerror]').count(), 0);
  assert.deepEqual(v.dialogs, []);
  assert.deepEqual(v.consoleErrors, []);
  assert.deepEqual(v.pageErrors, []);
  assert.deepEqual(v.requests, []);
  await page.close();
});

test('an empty report says there is no culprit and draws no chart', async () => {
  const empty = { ...input(), culprits: { culprits: [], sockets: 0, orphans: 0, observedMs: 1000 }, histograms: [], stateSeries: [] };
  const v = await visit('empty', renderHtmlReport(empty));
  assert.equal((await v.page.textContent('#culprits'))!.trim(), 'No process holds a socket in CLOSE_WAIT.');
  assert.equal(await v.page.locator('#culprits tbody tr').count(), 0);
  assert.equal(await v.page.locator('.chart svg').count(), 0);
  assert.deepEqual(v.consoleErrors, []);
  assert.deepEqual(v.pageErrors, []);
  assert.deepEqual(v.requests, []);
  await v.page.close();
});

test('report --html of a real recording: the leak\'s holder, the histograms and the states chart are on the page', async () => {
  try {
    const file = path.join(dir, 'real.jsonl');
    const rec = new LineProcess(process.execPath, [CLI, 'record', '-o', file, '-v']);
    await until('tcptrace to attach', () => /attached/.test(rec.stderr), 10_000);
    // Two connections that close, and a client that keeps CLOSE_WAIT after its server closes.
    for (const host of ['127.0.0.1', '::1']) {
      const pair = await connectPair(host);
      pair.client.send('close');
      await pair.client.next('closed');
      await exitAll(pair.server, pair.client);
    }
    const leak = await connectPair('127.0.0.1', 'close', 'hold');
    leak.server.send('close');
    await leak.client.next('peer-ended');
    rec.child.kill('SIGINT');
    assert.equal(await rec.exited(), 0, rec.stderr);
    const out = path.join(dir, 'real.html');
    const r = spawnSync(process.execPath, [CLI, 'report', file, '--html', '-o', out], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    await exitAll(leak.server, leak.client);

    const v = await visit('real', fs.readFileSync(out, 'utf8'));
    const { page } = v;
    const holders = await page.$$eval('#culprits tbody tr', (trs) => trs.map((tr) => tr.querySelector('td')!.textContent!.trim()));
    assert.ok(holders.includes(String(leak.client.pid)), `the leak's holder ${leak.client.pid} among ${holders.join(', ')}`);
    const row = page.locator('#culprits tbody tr', { hasText: String(leak.client.pid) });
    assert.match((await row.textContent())!, new RegExp(`127\\.0\\.0\\.1:${leak.port} ×1`));
    const charts = await page.$$eval('.chart', (cs) => cs.map((c) => ({ text: c.textContent ?? '', svg: c.querySelector('svg') !== null })));
    assert.ok(charts.every((c) => c.svg), JSON.stringify(charts));
    for (const measure of ['connect latency', 'connection lifetime', 'accept-queue wait']) {
      assert.ok(charts.some((c) => c.text.includes(measure)), `a ${measure} chart among: ${charts.map((c) => c.text.slice(0, 40)).join(' | ')}`);
    }
    const legend = await page.$$eval('ul.legend li > span:nth-child(2)', (s) => s.map((x) => x.textContent));
    // The leak sits in CLOSE_WAIT; the clients that closed first leave TIME_WAIT behind.
    assert.ok(legend.includes('CLOSE_WAIT') && legend.includes('TIME_WAIT'), `states chart legend: ${legend.join(', ')}`);
    assert.deepEqual(v.consoleErrors, []);
    assert.deepEqual(v.pageErrors, []);
    assert.deepEqual(v.requests, []);
    await page.close();
  } finally {
    killStragglers();
  }
});
