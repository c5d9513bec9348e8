/** `tcptrace live`: every transition as it happens, as a view, text lines or JSON. */
import { shortContainerId } from '../../host/containers';
import { KernelAggregates, KernelTallies, TransitionEvent } from '../../kernel/decoder';
import { eventHeader, eventLine, endpointWidth } from '../../format/event-text';
import { ExtraColumns } from '../../format/extra-columns';
import { eventJsonLine } from '../../format/event-json';
import { LiveViewInput, renderLiveView } from '../../format/live-view';
import { LatencySet } from '../../model/latency';
import { LiveStats } from '../../model/live-stats';
import { ListenDrops } from '../../model/listen-drops';
import { NamespaceCounts } from '../../model/state-counts';
import { FilterFlags } from '../options';
import { LineOutput, paintFor } from '../output';
import { stateName } from '../../kernel/states';
import { ConnectionTracker } from '../../model/tracker';
import { openLiveSource, printCounters, reportLostLine } from '../run';

export interface LiveFlags extends FilterFlags {
  events?: boolean;
  json?: boolean;
  duration?: number;
  verbose?: boolean;
  top?: number;
}

type Mode = 'view' | 'events' | 'json';

function chooseMode(flags: LiveFlags): Mode {
  if (flags.json) return 'json';
  if (flags.events || !process.stdout.isTTY) return 'events';
  return 'view';
}

export function describeFilters(flags: FilterFlags): string {
  const parts: string[] = [];
  if (flags.pid?.length) parts.push(`pid ${flags.pid.join(',')}`);
  if (flags.port?.length) parts.push(`port ${flags.port.join(',')}`);
  if (flags.state?.length) parts.push(`state ${flags.state.map(stateName).join(',')}`);
  if (flags.ipv4 && !flags.ipv6) parts.push('IPv4');
  if (flags.ipv6 && !flags.ipv4) parts.push('IPv6');
  if (flags.netns?.length) parts.push(`netns ${flags.netns.join(',')}`);
  if (flags.cgroup) parts.push(`cgroup ${flags.cgroup}`);
  return parts.join(' ');
}

/** Which network namespaces the view's state counts cover (LiveSource.stateCounts picks them). */
export function countedNamespaces(flags: FilterFlags): string {
  if (flags.netns?.length) return `--netns ${flags.netns.map((inode) => `net:[${inode}]`).join(',')}`;
  return flags.cgroup ? "those --cgroup's processes are in" : 'every one on the host';
}

export async function runLive(flags: LiveFlags): Promise<void> {
  const mode = chooseMode(flags);
  // The view counts TIME_WAIT with count_states: its snapshot needs full sockets only.
  // The view reports no end snapshot: it shows the kernel's state counts.
  // The view's counts and distributions are the kernel's own: it sends no
  // events. --cgroup picks events by their owner's cgroup: it needs them.
  // The view shows no resets (the event lines do).
  const kernelCounts = mode === 'view' && !flags.cgroup;
  const source = openLiveSource(flags, {
    command: 'live', emitAccepts: mode === 'view', endSnapshot: false, aggregateOnly: kernelCounts, countTallies: kernelCounts,
    resetsUnneeded: mode === 'view',
  });
  const { clock, cgroups } = source;
  // Only the view follows connections (for its distributions): the event
  // modes stay a straight pass from the ring buffer to stdout.
  let latencies = new LatencySet('us');
  const tracker = new ConnectionTracker({ onMeasure: (kind, ns, conn) => latencies.add(kind, ns, conn) });
  if (mode === 'view' && !kernelCounts) tracker.loadSnapshot(source.start.sockets, source.start.tsNs);

  const startedNs = clock.nowNs();
  const stats = new LiveStats((pid, cgroupId) => shortContainerId(cgroups.containerOf(cgroupId, pid)));
  const readKernelCounts = (aggregates: () => KernelAggregates, tallies: () => KernelTallies) => {
    const counted = aggregates();
    stats.addKernel(counted.transitions, tallies());
    latencies = new LatencySet('us');
    latencies.addAggregates(counted);
  };
  const out = new LineOutput(process.stdout, () => source.stop('output closed'));
  const width = endpointWidth(Boolean(flags.ipv6 && !flags.ipv4));
  const extra = mode === 'events' ? ExtraColumns.choose(cgroups, source.start.files, flags) : ExtraColumns.none();

  const paint = paintFor(process.stdout);
  const render: Record<Mode, (events: TransitionEvent[]) => void> = {
    view: (events) => {
      stats.add(events);
      tracker.apply(events);
    },
    events: (events) => out.writeLines(events.map((e) => eventLine(e, clock, width, extra, paint))),
    json: (events) => out.writeLines(events.map((e) => eventJsonLine(e, clock, cgroups))),
  };
  if (mode === 'events') out.writeLines([eventHeader(width, extra)]);

  let namespaces: NamespaceCounts[] = [];
  const listenDrops = new ListenDrops();
  let lastTickNs = startedNs;
  // The terminal's size now: the view fits it, and is drawn again when it changes.
  const screen = () => (process.stdout.columns && process.stdout.rows ? { columns: process.stdout.columns, rows: process.stdout.rows } : undefined);
  let lastFrame: LiveViewInput | undefined;
  const draw = (frame: LiveViewInput) => {
    lastFrame = frame;
    out.redraw(renderLiveView({ ...frame, screen: screen(), paint }));
  };
  const onResize = () => { if (lastFrame) draw(lastFrame); };
  const redraw = () => {
    const nowNs = clock.nowNs();
    stats.tick();
    draw({
      now: clock.timeOfDay(nowNs),
      elapsedSeconds: (nowNs - startedNs) / 1e9,
      intervalSeconds: Math.max((nowNs - lastTickNs) / 1e9, 0.001),
      namespaces,
      dropping: listenDrops.droppingNow(),
      othersCountedSecondsAgo: (performance.now() - source.countedAtMs) / 1000,
      countedWhere: countedNamespaces(flags),
      stats,
      counters: source.counters(),
      filters: describeFilters(flags),
      topN: flags.top ?? 8,
      latencies,
      connectionsDropped: tracker.dropped,
    });
    lastTickNs = nowNs;
  };
  const refresh = () => {
    namespaces = source.stateCounts();
    listenDrops.update(namespaces);
    if (source.aggregates && source.tallies) readKernelCounts(source.aggregates, source.tallies);
    redraw();
  };
  const viewTimer = mode === 'view' ? setInterval(refresh, 1000) : undefined;
  if (mode === 'view') process.stdout.on('resize', onResize);

  await source.run({
    onEvents: render[mode],
    // The view shows lost events itself.
    onLost: (newlyLost, total) => { if (mode !== 'view') reportLostLine(out, mode === 'json', newlyLost, total); },
  });

  if (viewTimer) clearInterval(viewTimer);
  process.stdout.off('resize', onResize);
  // Detached now: the last view keeps the last state counts taken.
  if (mode === 'view') redraw();
  // Only the view follows connections, and so can drop some.
  printCounters(source.counters(), Boolean(flags.verbose), mode === 'view' ? tracker.dropped : undefined);
  await out.flush();
}
