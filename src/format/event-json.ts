/** `live --json`: newline-delimited JSON, one object per transition. */
import { CgroupNames } from '../host/cgroups';
import { Clock } from '../kernel/clock';
import { shortContainerId } from '../host/containers';
import { TransitionEvent } from '../kernel/decoder';
import { stateName } from '../kernel/states';

export interface EventJson {
  ts: number;
  sk: number;
  skaddr: string;
  family: 4 | 6;
  saddr: string;
  sport: number;
  daddr: string;
  dport: number;
  oldstate: string;
  newstate: string;
  pid: number | null;
  comm: string | null;
  ownerSource: string | null;
  prevStateMs: number | null;
  netns: number;
  /** The owner's cgroup v2 id, its path under the cgroup2 mount, and its container (12 hex). */
  cgroupId: number | null;
  cgroup: string | null;
  container: string | null;
  /** At ->CLOSE: the RST that ended it (the peer's, or this side's with the kernel's reason). */
  reset: 'received' | 'sent' | null;
  resetReason: string | null;
  inferred: boolean;
}

export function eventJson(e: TransitionEvent, clock: Clock, cgroups: CgroupNames): EventJson {
  return {
    ts: clock.wallMs(e.tsNs),
    sk: e.sockId,
    skaddr: e.skaddr,
    family: e.family,
    saddr: e.saddr,
    sport: e.sport,
    daddr: e.daddr,
    dport: e.dport,
    oldstate: stateName(e.oldstate),
    newstate: stateName(e.newstate),
    pid: e.pid,
    comm: e.comm,
    ownerSource: e.ownerSource,
    prevStateMs: e.prevStateNs === null ? null : Math.round(e.prevStateNs / 1e3) / 1e3,
    netns: e.netns,
    cgroupId: e.cgroupId,
    cgroup: cgroups.pathOf(e.cgroupId, e.pid),
    container: shortContainerId(cgroups.containerOf(e.cgroupId, e.pid)),
    reset: e.reset ?? null,
    resetReason: e.resetReason ?? null,
    inferred: e.inferred,
  };
}

// Command names and cgroup paths repeat: escape each once. Bounded like the decoder's caches.
const COMM_JSON_MAX = 4096;
const commJson = new Map<string, string>();

function jsonString(text: string | null): string {
  if (text === null) return 'null';
  let json = commJson.get(text);
  if (json === undefined) {
    if (commJson.size >= COMM_JSON_MAX) commJson.clear();
    commJson.set(text, (json = JSON.stringify(text)));
  }
  return json;
}

/**
 * JSON.stringify(eventJson(e, clock, cgroups)), written out by hand: the serializer
 * was a third of `live --json`'s time under a storm. Addresses, state and
 * source names and container ids need no escaping; comm and cgroup paths do. A unit test holds the two equal.
 */
export function eventJsonLine(e: TransitionEvent, clock: Clock, cgroups: CgroupNames): string {
  const prevStateMs = e.prevStateNs === null ? null : Math.round(e.prevStateNs / 1e3) / 1e3;
  const ownerSource = e.ownerSource === null ? 'null' : `"${e.ownerSource}"`;
  return `{"ts":${clock.wallMs(e.tsNs)},"sk":${e.sockId},"skaddr":"${e.skaddr}","family":${e.family},` +
    `"saddr":"${e.saddr}","sport":${e.sport},"daddr":"${e.daddr}","dport":${e.dport},` +
    `"oldstate":"${stateName(e.oldstate)}","newstate":"${stateName(e.newstate)}","pid":${e.pid},` +
    `"comm":${jsonString(e.comm)},"ownerSource":${ownerSource},"prevStateMs":${prevStateMs},` +
    `"netns":${e.netns},"cgroupId":${e.cgroupId},"cgroup":${jsonString(cgroups.pathOf(e.cgroupId, e.pid))},` +
    `"container":${jsonString(shortContainerId(cgroups.containerOf(e.cgroupId, e.pid)))},` +
    `"reset":${e.reset ? `"${e.reset}"` : 'null'},"resetReason":${jsonString(e.resetReason ?? null)},"inferred":${e.inferred}}`;
}

export function lostJsonLine(newlyLost: number): string {
  return JSON.stringify({ lost: newlyLost });
}
