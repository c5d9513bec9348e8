/**
 * Loads the addon (build/Release/tcptrace.node) and gives it a type. If it is
 * missing, the error says every place that was tried and how to build it.
 */
import * as path from 'node:path';
import { TcptraceError } from '../errors';

export interface TracerOptions {
  ringBufferBytes?: number;
  wakeupBytes?: number;
  family?: number;
  stateMask?: number;
  ports?: number[];
  pids?: number[];
  /** Only these network namespaces (inode numbers). */
  netns?: number[];
  /** Also report accept() returning each socket (the accept-queue wait). */
  emitAccepts?: boolean;
  /** Send no per-transition records: the kernel's aggregates() are the whole report. */
  aggregateOnly?: boolean;
  /** Send one record per connection at its end (decodeConnections), and no transitions. */
  emitConnections?: boolean;
  /** Keep transitions per owner and per peer in the kernel (tallies()): the live view's. */
  countTallies?: boolean;
  /** Keep the kernel's aggregates while sending records too (aggregateOnly implies it; otherwise they stay 0). */
  countAggregates?: boolean;
  /** The kernel histograms' unit in ns (1000: microseconds, the default). */
  measureUnitNs?: number;
  /** No report or filter of this run needs owners: the kernel side learns none (and traces no send/recv). */
  ownersUnneeded?: boolean;
  /** No report or filter of this run shows resets: the kernel side follows none (their programs stay unloaded). */
  resetsUnneeded?: boolean;
  /** Per measure, in MEASURE_KINDS' order: fixed histogram bounds in ns, ascending (at most MAX_BOUNDS). */
  boundsNs?: number[][];
  /** Leave TIME_WAIT and request sockets out of snapshot(): faster start on a host full of them. */
  snapshotFullSocketsOnly?: boolean;
  /** Load only the iterators: a snapshot, with nothing attached to the TCP path. */
  iteratorsOnly?: boolean;
  /** Kernel BTF types to probe as absent (features.ts assumedMissing). */
  assumeMissing?: string[];
}

export interface TracerCounters {
  /** Transitions that never reached user space: the sum of the two below. */
  lostEvents: number;
  /** No room in the ring buffer (raise --ring-buffer). */
  lostRingBufferFull: number;
  /** Skipped by the kernel while the program was already running on that CPU. */
  lostNested: number;
  /** Skipped by the kernel for that reason but handled by the understudy program. */
  nestedCaught: number;
  /** Never run for by the kernel, and deduced from the socket's next transition. */
  inferred: number;
  untrackedSockets: number;
}

export type IteratorName = 'snapshot_socks' | 'snapshot_files' | 'count_states';

/** A binary capture file being written (native/capture.h, docs/trace-format.md). */
export interface NativeCapture {
  /** A table block: `type` its four letters, `text` JSON Lines of `lines` lines. Events appended before it are written first. */
  writeTable(type: string, text: string, lines: number): void;
  /** Whole event records (JS filters them only with --cgroup; else the reader thread appends them). */
  appendEvents(records: Uint8Array): void;
  flush(): void;
  /** Cgroup ids owners carried for the first time since the last call: [id, pid, id, pid, ...]. */
  takeCgroups(): number[];
  /** Records appended, bytes of whole blocks written, and the first write error (errno's name), if any. */
  stats(): { events: number; bytes: number; errorCode: string | null; errorMessage: string | null };
  close(): void;
}

/** `export --jsonl`'s encoder (native/jsonl.h): records to the lines `live --json` prints. */
export interface NativeJsonlEncoder {
  /** pathJson and containerJson: JSON texts (a string or null). */
  nameCgroup(id: number, pathJson: string, containerJson: string): void;
  encode(records: Uint8Array): Buffer;
}

export interface NativeTracer {
  /** Each batch is lent for the call only: its memory is released (the array
   *  emptied) as soon as onBatch returns, so nothing may keep it. With a
   *  capture, the reader thread writes every batch to it, and calls onBatch
   *  only if `deliver`. */
  start(onBatch: (batch: Uint8Array) => void, onEnd: () => void, pollMs: number, capture?: NativeCapture, deliver?: boolean): void;
  stop(): void;
  counters(): TracerCounters;
  /** struct tcptrace_aggregates, summed over CPUs (the last values once stopped). */
  aggregates(): Buffer;
  /** Every struct tcptrace_process_tally, or tcptrace_peer_tally (empty once stopped). */
  processTallies(): Buffer;
  peerTallies(): Buffer;
  /** A socket walk covers the namespace of netnsPath (/proc/PID/ns/net, /run/netns/NAME) if given, else tcptrace's own. */
  runIterator(name: IteratorName, netnsPath?: string): Buffer;
  /** The next file-table walk keeps the holders of every namespace's sockets (for walks of each). */
  holdersOfEveryNetns(every: boolean): void;
  skippedPrograms(): string[];
  /** This kernel's names of its RST reasons (enum sk_rst_reason) by code; none before Linux 6.10. */
  resetReasonNames(): string[];
}

type Offsets = Record<string, number> & { size: number };

export interface NativeLayout {
  event: Offsets;
  sockRec: Offsets;
  listenerRec: Offsets;
  fileRec: Offsets;
  connection: Offsets & { dwellStates: number };
  processTally: Offsets;
  peerTally: Offsets;
  connectionCodes: Record<'kind' | 'client' | 'server' | 'closedLocal' | 'closedRemote' | 'ackedSyn' | 'ackedFin', number>;
  ownerSource: Record<'none' | 'syscall' | 'cached' | 'listener' | 'snapshot', number>;
  eventFlags: Record<'inferred', number>;
  eventKinds: Record<'transition' | 'accept', number>;
  resets: Record<'received' | 'sent' | 'reasonNotKnown', number>;
  stateCountsSize: number;
  aggregates: Offsets & { histSize: number; buckets: number; measures: number; boundedSize: number; maxBounds: number };
  defaultRingBytes: number;
  capture: {
    magic: number[]; major: number; minor: number; fileHeaderSize: number; blockHeaderSize: number;
    blockRecords: number; stored: number; lz4: number; types: Record<string, number>;
  };
}

export interface NativeAddon {
  Tracer: new (options: TracerOptions) => NativeTracer;
  /** Creates (or empties) the file; throws an Error whose code is the errno's name. */
  Capture: new (path: string) => NativeCapture;
  /** stateNames[i]: state i's name; sourceJson[i]: owner source i as JSON, "null" where unknown (0..255). */
  /** resetReasonJson[i]: RST reason i's name as JSON (a code past the list is written "reason N"). */
  JsonlEncoder: new (wallOffsetMs: number, stateNames: string[], sourceJson: string[], resetReasonJson: string[]) => NativeJsonlEncoder;
  setErrorClass(errorClass: typeof TcptraceError): void;
  layout: NativeLayout;
}

const PACKAGE_ROOT = path.resolve(__dirname, '..', '..', '..');
const CANDIDATES = ['build/Release/tcptrace.node', 'build/Debug/tcptrace.node'];

let loaded: NativeAddon | undefined;

export function loadNative(): NativeAddon {
  if (loaded) return loaded;
  const tried: string[] = [];
  for (const candidate of CANDIDATES) {
    const file = path.join(PACKAGE_ROOT, candidate);
    try {
      loaded = require(file) as NativeAddon;
      loaded.setErrorClass(TcptraceError);
      return loaded;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      tried.push(code === 'MODULE_NOT_FOUND' ? `${file} (not found)` : `${file} (${(err as Error).message})`);
    }
  }
  throw new TcptraceError(
    `the native addon is not built (run "npm run build"); looked in: ${tried.join('; ')}`,
    'ENOADDON',
  );
}
