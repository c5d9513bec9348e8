/**
 * `export --jsonl`: a capture's raw event records straight to the JSON lines
 * `live --json` prints (format/event-json.ts's eventJsonLine). Through objects
 * and strings, 1.7 million transitions took 10 s, a third of it in the garbage
 * collector, and writing bytes in JavaScript still took 0.9 us each; the
 * addon's encoder (native/jsonl.cc) makes no object or string per event.
 * The names it writes (states, owner sources, cgroups) are given from here;
 * test/unit/export-jsonl.test.ts holds its lines equal to eventJsonLine's.
 */
import { shortContainerId } from '../host/containers';
import { Clock } from '../kernel/clock';
import { OWNER_SOURCES, resetReasonName, resetReasonNamesInUse } from '../kernel/decoder';
import { loadNative, NativeJsonlEncoder } from '../kernel/native';
import { stateName } from '../kernel/states';

const STATE_NAMES = Array.from({ length: 256 }, (_, state) => stateName(state));
const SOURCE_JSON = Array.from({ length: 256 }, (_, code) => JSON.stringify(OWNER_SOURCES[code] ?? null));

export class JsonlEncoder {
  private readonly native: NativeJsonlEncoder;

  constructor(clock: Clock) {
    // The reasons named now: the capture's header's (see useResetReasonNames).
    const reasons = resetReasonNamesInUse().map((_, code) => JSON.stringify(resetReasonName(code)));
    this.native = new (loadNative().JsonlEncoder)(clock.wallOffsetMs, STATE_NAMES, SOURCE_JSON, reasons);
  }

  /** A cgroup id's path and container (as CgroupNames gives them), for the records that carry it from now on. */
  nameCgroup(id: number, path: string, container: string | null): void {
    this.native.nameCgroup(id, JSON.stringify(path), JSON.stringify(shortContainerId(container)));
  }

  /** Whole struct tcptrace_event records to their lines, in order; accept() records have none (they are no transition). */
  encode(records: Uint8Array): Buffer {
    return this.native.encode(records);
  }
}
