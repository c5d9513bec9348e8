/**
 * A trace report as one self-contained HTML page: inline CSS, and charts drawn
 * here as inline SVG. The page runs no script and loads nothing (its
 * Content-Security-Policy forbids both), so it can be mailed, archived and
 * opened offline. Every string from the input is escaped: comm, cmdline,
 * addresses and advice come from the traced machine, not from us.
 */
import { formatEndpoint } from '../kernel/addr';
import { Culprit, CulpritGroup, CulpritReport, groupName } from '../model/culprits';
import { clip, formatDuration, formatSeconds } from '../units';
import { HtmlReportInput } from '../reports/html';

type Histogram = HtmlReportInput['histograms'][number];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text safe in element content and in quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}
const esc = escapeHtml;

export function renderHtmlReport(input: HtmlReportInput): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    // No scripts, no fetches of any kind: only the inline styles below.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(input.title)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    '<main>',
    header(input),
    summary(input.summary),
    culprits(input.culprits),
    histograms(input.histograms),
    stateChart(input.stateSeries, input.startNs),
    '<footer>Made by tcptrace. This page is self-contained: it runs no script and loads nothing.</footer>',
    '</main>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

const CSS = `
:root { color-scheme: light; --ink: #1f2328; --dim: #59636e; --rule: #d1d9e0; --band: #f6f8fa; --accent: #0969da; }
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", "Liberation Sans", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 24px; margin: 0 0 8px; }
h2 { font-size: 18px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--rule); }
code, .mono { font-family: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
.meta { display: flex; flex-wrap: wrap; gap: 6px 28px; margin: 0; }
.meta div { display: flex; gap: 6px; }
.meta dt { color: var(--dim); }
.meta dd { margin: 0; font-weight: 600; }
.note, .dim { color: var(--dim); }
.empty { color: var(--dim); font-style: italic; }
table { border-collapse: collapse; }
th, td { text-align: left; vertical-align: top; padding: 6px 10px; border-bottom: 1px solid var(--rule); }
thead th { background: var(--band); font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.summary th { font-weight: normal; color: var(--dim); padding-right: 24px; }
table.summary td { font-variant-numeric: tabular-nums; }
table.culprits { width: 100%; }
table.culprits tbody tr:nth-child(even) { background: #fbfcfd; }
table.culprits code { overflow-wrap: anywhere; }
table.culprits td.cmd { width: 30%; min-width: 220px; }
table.culprits td.advice { width: 36%; }
.comm { display: block; color: var(--dim); font-size: 12px; }
ul.peers, ul.advice { margin: 0; padding-left: 16px; }
ul.peers { list-style: none; padding-left: 0; white-space: nowrap; }
ul.peers li + li { margin-top: 4px; }
ul.advice li + li { margin-top: 4px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 16px; }
figure.chart { margin: 0; padding: 12px 14px 10px; border: 1px solid var(--rule); border-radius: 6px; background: #fff; }
figure.chart figcaption { margin-bottom: 6px; }
figure.chart figcaption strong { display: block; }
figure.chart svg { display: block; width: 100%; height: auto; }
svg text { font-family: system-ui, "DejaVu Sans", "Liberation Sans", Arial, sans-serif; fill: var(--ink); }
svg .tick { font-size: 11px; fill: var(--dim); }
svg .axis-title { font-size: 12px; fill: var(--ink); }
svg .bar-count { font-size: 10.5px; fill: var(--dim); }
svg .grid { stroke: #e6eaef; stroke-width: 1; }
svg .axis { stroke: #8c959f; stroke-width: 1; }
svg .bar { fill: #4c8ed9; }
ul.legend { display: flex; flex-wrap: wrap; gap: 4px 18px; list-style: none; margin: 8px 0 0; padding: 0; }
ul.legend li { display: flex; align-items: center; gap: 6px; }
.swatch { display: inline-block; width: 22px; height: 0; }
footer { margin-top: 36px; color: var(--dim); font-size: 12px; }
`;

function header(input: HtmlReportInput): string {
  const item = (label: string, value: string) => `<div><dt>${esc(label)}</dt><dd>${esc(value)}</dd></div>`;
  return [
    '<header>',
    `<h1>${esc(input.title)}</h1>`,
    '<dl class="meta">',
    item('Host', input.host),
    item('Kernel', input.kernel),
    item('Start', input.startTime),
    item('Duration', formatDuration(input.durationMs)),
    '</dl>',
    '</header>',
  ].join('\n');
}

function summary(rows: HtmlReportInput['summary']): string {
  if (!rows.length) return '';
  return [
    '<section>',
    '<h2>Summary</h2>',
    '<table class="summary"><tbody>',
    ...rows.map((r) => `<tr><th scope="row">${esc(r.label)}</th><td>${esc(r.value)}</td></tr>`),
    '</tbody></table>',
    '</section>',
  ].join('\n');
}

const age = (ms: number, lowerBound: boolean) => `${lowerBound ? '\u2265 ' : ''}${formatSeconds(ms)}`;

function culprits(report: CulpritReport): string {
  const head = `${report.sockets} socket(s) in CLOSE_WAIT held by ${report.culprits.length} process(es), ` +
    `${report.orphans} orphaned (held by no process), after ${formatSeconds(report.observedMs)} of tracing.`;
  const out = ['<section>', '<h2>CLOSE_WAIT culprits</h2>', `<p class="note">${esc(head)}</p>`];
  if (!report.culprits.length) {
    out.push('<p id="culprits" class="empty">No process holds a socket in CLOSE_WAIT.</p>', '</section>');
    return out.join('\n');
  }
  out.push(
    '<table id="culprits" class="culprits">',
    '<thead><tr><th class="num">PID</th><th>Command line</th><th class="num">Sockets</th>' +
      '<th class="num">Oldest</th><th>Service and peer host</th><th>Advice</th></tr></thead>',
    '<tbody>',
    ...report.culprits.slice(0, CULPRITS_SHOWN).map(culpritRow),
    ...moreCulprits(report.culprits.slice(CULPRITS_SHOWN)),
    '</tbody>',
    '</table>',
    '</section>',
  );
  return out.join('\n');
}

/** Groups and processes a page shows before "N more": a leak from many hosts stays one screen. */
const GROUPS_SHOWN = 5;
/** The page names the program; its full command line is in the recording. */
const CMDLINE_SHOWN = 300;
const CULPRITS_SHOWN = 10;

function moreCulprits(rest: Culprit[]): string[] {
  if (!rest.length) return [];
  const sockets = rest.reduce((sum, c) => sum + c.count, 0);
  return [`<tr><td colspan="6" class="dim">${esc(`and ${rest.length} more process(es) holding ${sockets} socket(s): tcptrace report FILE culprits lists them`)}</td></tr>`];
}

function groupItem(g: CulpritGroup): string {
  return `<li><span class="mono">${esc(groupName(g))}</span> \u00d7${esc(g.count.toLocaleString('en-US'))}` +
    `<span class="comm">oldest ${esc(age(g.oldestAgeMs, g.ageIsLowerBound))}` +
    (g.idleBeforeFinMs === null ? '' : `, idle ~${esc(formatSeconds(g.idleBeforeFinMs))} before FIN`) + '</span></li>';
}

function culpritRow(c: Culprit): string {
  const more = c.groups.slice(GROUPS_SHOWN);
  const groups = c.groups.slice(0, GROUPS_SHOWN).map(groupItem);
  if (more.length) {
    const sockets = more.reduce((sum, g) => sum + g.count, 0);
    groups.push(`<li class="dim">${esc(`and ${more.length} more group(s), ${sockets} socket(s)`)}</li>`);
  }
  const advice = c.advice.length ? `<ul class="advice">${c.advice.map((a) => `<li>${esc(a)}</li>`).join('')}</ul>` : '<span class="dim">-</span>';
  return '<tr>' +
    `<td class="num">${esc(c.pid)}</td>` +
    `<td class="cmd"><code>${esc(clip(c.cmdline, CMDLINE_SHOWN))}</code><span class="comm">comm ${esc(c.comm)}` +
      `${c.container ? `, container ${esc(c.container)}` : ''}</span></td>` +
    `<td class="num">${esc(c.count)}</td>` +
    `<td class="num">${esc(age(c.oldestAgeMs, c.ageIsLowerBound))}<span class="comm">median ${esc(formatSeconds(c.medianAgeMs))}</span></td>` +
    `<td><ul class="peers">${groups.join('')}</ul></td>` +
    `<td class="advice">${advice}</td>` +
    '</tr>';
}

// ---- charts ------------------------------------------------------------

/** Average advance of an 11px digit or letter in the sans fonts above, for layout. */
const CHAR_PX = 6.8;
const f1 = (x: number) => (Math.round(x * 10) / 10).toString();

/** 1, 2 or 5 times a power of ten, giving about `target` steps over span. */
function niceStep(span: number, target: number): number {
  const raw = span / target;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const f = raw / magnitude;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * magnitude;
}

/** Ticks from 0 to at least max; the last one is the axis' end. */
function ticks(max: number, target: number, integer: boolean): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  let step = niceStep(max, target);
  if (integer) step = Math.max(1, step);
  const n = Math.ceil(max / step - 1e-9);
  return Array.from({ length: n + 1 }, (_, i) => Number((i * step).toPrecision(12)));
}

const tickLabel = (v: number) => v.toLocaleString('en-US', { maximumFractionDigits: 2 });

interface Frame { left: number; top: number; width: number; height: number }

/** Horizontal grid lines, y tick labels and the y axis title. */
function yAxis(frame: Frame, yTicks: number[], title: string): string[] {
  const top = yTicks[yTicks.length - 1];
  const out: string[] = [];
  for (const v of yTicks) {
    const y = frame.top + frame.height - (v / top) * frame.height;
    out.push(`<line class="${v === 0 ? 'axis' : 'grid'}" x1="${frame.left}" x2="${frame.left + frame.width}" y1="${f1(y)}" y2="${f1(y)}"/>`);
    out.push(`<text class="tick" x="${frame.left - 6}" y="${f1(y + 4)}" text-anchor="end">${esc(tickLabel(v))}</text>`);
  }
  const cy = frame.top + frame.height / 2;
  out.push(`<text class="axis-title" transform="translate(14 ${f1(cy)}) rotate(-90)" text-anchor="middle">${esc(title)}</text>`);
  return out;
}

/** Width needed left of the plot for the y labels and title. */
const yAxisWidth = (yTicks: number[]) => 28 + Math.max(...yTicks.map((v) => tickLabel(v).length)) * CHAR_PX;

const UNIT_NAMES: Record<string, string> = { us: '\u00b5s', ms: 'ms', ns: 'ns', s: 's' };
const unitName = (unit: string) => UNIT_NAMES[unit] ?? unit;
const MS_PER: Record<string, number> = { ns: 1e-6, us: 1e-3, ms: 1, s: 1e3 };

/** A duration in a histogram's unit, as a person reads it: 515 µs, 13.3 s. */
function durationIn(value: number, unit: string): string {
  const perMs = MS_PER[unit];
  if (perMs === undefined) return `${tickLabel(value)} ${unit}`;
  const ms = value * perMs;
  if (ms >= 1) return formatDuration(ms);
  const us = ms * 1000;
  return `${us.toLocaleString('en-US', { maximumFractionDigits: us < 10 ? 1 : 0 })} \u00b5s`;
}

function histograms(list: Histogram[]): string {
  const shown = list.filter((h) => h.count > 0 && h.buckets.some((b) => b.count > 0));
  const body = shown.length
    ? `<div class="charts">\n${shown.map(histogramChart).join('\n')}\n</div>`
    : '<p class="empty">No durations were measured.</p>';
  return ['<section>', '<h2>Durations</h2>', body, '</section>'].join('\n');
}

/** Bars per log2 bucket, from the first non-empty bucket to the last. */
export function histogramChart(h: Histogram): string {
  const first = h.buckets.findIndex((b) => b.count > 0);
  const buckets = h.buckets.slice(first);
  const unit = unitName(h.unit);
  const labels = buckets.map((b) => `${b.low}-${b.high}`);
  const maxCount = Math.max(...buckets.map((b) => b.count));
  const yTicks = ticks(maxCount, 5, true);

  const width = 560;
  const left = yAxisWidth(yTicks);
  const plotWidth = width - left - 12;
  const band = plotWidth / buckets.length;
  // Labels side by side when they fit in a band, else slanted, thinned out if still too dense.
  const longest = Math.max(...labels.map((l) => l.length)) * CHAR_PX;
  const slanted = longest > band - 4;
  const every = slanted ? Math.max(1, Math.ceil(15 / band)) : 1;
  const labelDepth = slanted ? longest * Math.sin(Math.PI / 4) + 14 : 16;
  const frame: Frame = { left, top: 16, width: plotWidth, height: 190 };
  const height = frame.top + frame.height + labelDepth + 30;

  const out = yAxis(frame, yTicks, 'count');
  const top = yTicks[yTicks.length - 1];
  const base = frame.top + frame.height;
  buckets.forEach((b, i) => {
    const x = left + i * band;
    const barHeight = (b.count / top) * frame.height;
    const tip = `${labels[i]} ${unit}: ${b.count.toLocaleString('en-US')}`;
    if (b.count > 0) {
      out.push(`<rect class="bar" x="${f1(x + band * 0.1)}" y="${f1(base - barHeight)}" width="${f1(band * 0.8)}" ` +
        `height="${f1(barHeight)}"><title>${esc(tip)}</title></rect>`);
      if (band >= 26) {
        out.push(`<text class="bar-count" x="${f1(x + band / 2)}" y="${f1(base - barHeight - 4)}" text-anchor="middle">${esc(b.count.toLocaleString('en-US'))}</text>`);
      }
    }
    if (i % every) return;
    const cx = x + band / 2;
    out.push(slanted
      ? `<text class="tick" x="${f1(cx + 3)}" y="${f1(base + 12)}" text-anchor="end" transform="rotate(-45 ${f1(cx + 3)} ${f1(base + 12)})">${esc(labels[i])}</text>`
      : `<text class="tick" x="${f1(cx)}" y="${f1(base + 15)}" text-anchor="middle">${esc(labels[i])}</text>`);
  });
  out.push(`<text class="axis-title" x="${f1(left + plotWidth / 2)}" y="${f1(height - 8)}" text-anchor="middle">${esc(unit)} (log2 buckets)</text>`);

  const title = h.title.replace(/ -> /g, ' \u2192 ');
  const stats = `${h.count.toLocaleString('en-US')} sample(s), mean ${durationIn(h.count ? h.sum / h.count : 0, h.unit)}`;
  return [
    '<figure class="chart">',
    `<figcaption><strong>${esc(title)}</strong>${h.key ? `<span class="mono">${esc(h.key)}</span> \u00b7 ` : ''}<span class="dim">${esc(stats)}</span></figcaption>`,
    svg(width, height, `${title}: ${stats}`, out),
    '</figure>',
  ].join('\n');
}

function svg(width: number, height: number, label: string, body: string[]): string {
  return `<svg viewBox="0 0 ${width} ${f1(height)}" width="${width}" height="${f1(height)}" role="img" aria-label="${esc(label)}">\n` +
    `${body.join('\n')}\n</svg>`;
}

/** One colour per state, the same in every report; far apart in hue and lightness. */
const STATE_COLOURS: Record<string, string> = {
  ESTABLISHED: '#0072b2',
  CLOSE_WAIT: '#d55e00',
  TIME_WAIT: '#e69f00',
  LISTEN: '#6e7781',
  SYN_SENT: '#56b4e9',
  SYN_RECV: '#009e73',
  FIN_WAIT1: '#cc79a7',
  FIN_WAIT2: '#882255',
  LAST_ACK: '#8a7a00',
  CLOSING: '#332288',
  NEW_SYN_RECV: '#44aa99',
};
/** TIME_WAIT is an estimate (see StateSeries): dashed, which also keeps it apart from a line it overlaps. */
const dash = (state: string) => (state === 'TIME_WAIT' ? ' stroke-dasharray="7 4"' : '');
const SPARE_COLOURS = ['#117733', '#aa4499', '#999933', '#661100', '#6699cc', '#000000'];

function stateChart(series: HtmlReportInput['stateSeries'], startNs: number): string {
  const out = ['<section>', '<h2>Sockets per state</h2>'];
  // In the order the series names them (StateSeries: the kernel's), if ever non-zero.
  const named = new Set(series.flatMap((p) => Object.keys(p.counts)));
  const states = [...named].filter((s) => series.some((p) => (p.counts[s] ?? 0) > 0));
  if (!series.length || !states.length) {
    out.push('<p class="empty">No socket was seen in any state.</p>', '</section>');
    return out.join('\n');
  }
  out.push('<figure class="chart">', `<figcaption><span class="dim">Sockets in each state over time ` +
    `(states with at least one socket at some point). TIME_WAIT, dashed, is estimated from the closes seen.</span></figcaption>`);

  const seconds = series.map((p) => (p.tsNs - startNs) / 1e9);
  const maxT = Math.max(0, ...seconds);
  const [unitS, unit] = maxT >= 7200 ? [3600, 'h'] : maxT >= 600 ? [60, 'min'] : [1, 's'];
  // The axis ends where the trace does; its ticks stop before.
  const xEnd = maxT > 0 ? maxT : 1;
  const xTicks = ticks(xEnd / unitS, 8, false).filter((v) => v * unitS <= xEnd * (1 + 1e-9));
  const maxCount = Math.max(...series.flatMap((p) => states.map((s) => p.counts[s] ?? 0)));
  const yTicks = ticks(maxCount, 5, true);
  const yTop = yTicks[yTicks.length - 1];

  const width = 1000;
  const frame: Frame = { left: yAxisWidth(yTicks), top: 14, width: 0, height: 260 };
  frame.width = width - frame.left - 20;
  const height = frame.top + frame.height + 52;
  const x = (t: number) => frame.left + (Math.max(0, t) / xEnd) * frame.width;
  const y = (n: number) => frame.top + frame.height - (n / yTop) * frame.height;

  const body = yAxis(frame, yTicks, 'sockets');
  const base = frame.top + frame.height;
  for (const v of xTicks) {
    const tx = x(v * unitS);
    body.push(`<line class="axis" x1="${f1(tx)}" x2="${f1(tx)}" y1="${f1(base)}" y2="${f1(base + 5)}"/>`);
    body.push(`<text class="tick" x="${f1(tx)}" y="${f1(base + 18)}" text-anchor="middle">${esc(tickLabel(v))}</text>`);
  }
  body.push(`<text class="axis-title" x="${f1(frame.left + frame.width / 2)}" y="${f1(height - 8)}" text-anchor="middle">time since start (${unit})</text>`);

  const colour = new Map(states.map((s, i) => [s, STATE_COLOURS[s] ?? SPARE_COLOURS[i % SPARE_COLOURS.length]]));
  const markers = series.length <= 60;
  for (const state of states) {
    const c = colour.get(state)!;
    const pts = series.map((p, i) => `${f1(x(seconds[i]))},${f1(y(p.counts[state] ?? 0))}`);
    body.push(`<polyline fill="none" stroke="${c}" stroke-width="2" stroke-linejoin="round"${dash(state)} points="${pts.join(' ')}">` +
      `<title>${esc(state)}</title></polyline>`);
    if (markers) {
      series.forEach((p, i) => body.push(`<circle cx="${f1(x(seconds[i]))}" cy="${f1(y(p.counts[state] ?? 0))}" r="2.5" fill="${c}">` +
        `<title>${esc(`${state} at ${tickLabel(seconds[i])} s: ${p.counts[state] ?? 0}`)}</title></circle>`));
    }
  }
  out.push(svg(width, height, 'sockets per state over time', body));

  const peak = (s: string) => Math.max(...series.map((p) => p.counts[s] ?? 0));
  const last = (s: string) => series[series.length - 1].counts[s] ?? 0;
  const swatch = (s: string) => `<span class="swatch" style="border-top: 3px ${s === 'TIME_WAIT' ? 'dashed' : 'solid'} ${colour.get(s)}"></span>`;
  out.push('<ul class="legend">', ...states.map((s) => `<li>${swatch(s)}` +
    `<span>${esc(s)}</span> <span class="dim">peak ${esc(peak(s))}, at end ${esc(last(s))}</span></li>`), '</ul>');
  out.push('</figure>', '</section>');
  return out.join('\n');
}
