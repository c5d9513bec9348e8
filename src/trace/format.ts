/**
 * The trace file format, version 1: JSON Lines, one object per line, the
 * header first. Documented in docs/trace-format.md, with a JSON Schema in
 * docs/trace-format.schema.json. A reader refuses a newer major version.
 */
import { SnapshotFile, SnapshotSocket, TransitionEvent } from '../kernel/decoder';
import { TracerCounters } from '../kernel/native';

export const TRACE_FORMAT = 'tcptrace-trace';
export const TRACE_VERSION = '1.3';
export const TRACE_MAJOR = 1;

/** The longest line a reader takes (it streams, and refuses longer ones rather than hold them). */
export const MAX_LINE_BYTES = 64 * 1024;
/**
 * The most a free-text field takes in a line, JSON-encoded: a command line
 * (a JVM's is often 80 KB), a cgroup path, an option. The writer cuts longer
 * ones, marked "...", so that every line it writes is far below MAX_LINE_BYTES.
 */
export const MAX_TEXT_BYTES = 4096;

export interface TraceHeader {
  type: 'header';
  format: typeof TRACE_FORMAT;
  version: string;
  host: string;
  kernel: string;
  /** Wall-clock start, ISO 8601. */
  startTime: string;
  /** CLOCK_MONOTONIC ns at start: all tsNs in the file are on this clock. */
  startNs: number;
  /** Wall-clock ms at monotonic 0: wallMs = tsNs / 1e6 + wallOffsetMs. */
  wallOffsetMs: number;
  /** The command line options the recording was made with. */
  options: Record<string, unknown>;
  /** A capture's (since its 1.3 header): the recording kernel's RST reason names by code, as its records carry codes. */
  resetReasons?: string[];
  /** Since 1.3: the network namespace the recorder ran in (its snapshot's own). */
  netns?: number;
}

/** Sockets and their holders, when tracing started ('start') and ended ('end'). */
export type SnapshotPhase = 'start' | 'end';
/** A recording keeps no closeWait facts: its events say the same, for any report. */
export type TraceSocket = { type: 'socket'; phase: SnapshotPhase } & Omit<SnapshotSocket, 'closeWait'>;
export type TraceFile = { type: 'file'; phase: SnapshotPhase } & SnapshotFile;
/** Marks when the end snapshot was taken (its sockets and files follow). */
export interface TraceSnapshotMark { type: 'snapshot'; phase: SnapshotPhase; tsNs: number }
export type TraceEvent = { type: 'event' } & TransitionEvent;
/** Since 1.2: a cgroup id's path, written before the first line that carries the id,
 *  so a report made on another host can name owners' cgroups and containers. */
export interface TraceCgroup { type: 'cgroup'; id: number; path: string }
export interface TraceLost { type: 'lost'; count: number; total: number }
export interface TraceFooter {
  type: 'footer';
  endTime: string;
  endNs: number;
  events: number;
  counters: TracerCounters;
}

export type TraceLine =
  TraceHeader | TraceSnapshotMark | TraceSocket | TraceFile | TraceCgroup | TraceEvent | TraceLost | TraceFooter;
