/**
 * Reads a trace file (docs/trace-format.md) as a stream of validated lines.
 *
 * A trace can be hostile or damaged (a crash, a disk error, someone else's
 * file), and it can be gigabytes long, so the reader:
 * - holds no more than one line plus a read chunk (and the stream's
 *   read-ahead): it splits the bytes itself with a hard per-line cap instead
 *   of using readline, whose lines are unbounded;
 * - refuses nesting deeper than the format has before JSON.parse sees it;
 * - checks every field of every line against TRACE_FIELDS (the same table
 *   docs/trace-format.schema.json is tested against), and the line order;
 * - reports every problem as a TcptraceError "file:line: reason".
 *
 * A file cut off by a crash (no footer, or a last line without its newline)
 * is not an error: every whole line is yielded and the generator's return
 * value says `truncated: true`.
 */
import * as fs from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { pipeline, Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { EVENT_KINDS, OWNER_SOURCES } from '../kernel/decoder';
import { TcptraceError } from '../errors';
import { TracerCounters } from '../kernel/native';
import { MAX_LINE_BYTES, TRACE_FORMAT, TRACE_MAJOR, TRACE_VERSION, TraceLine } from './format';
import { CaptureItem, isCaptureFile, readCaptureItems, readCaptureLines } from './capture-reader';

export const DEFAULT_MAX_LINE_BYTES = MAX_LINE_BYTES;
/** The deepest a line of the format nests: header.options.port[] is 3. */
export const MAX_NESTING = 3;
const TRACE_MINOR = Number(TRACE_VERSION.split('.')[1]);
const READ_CHUNK_BYTES = 64 * 1024;

/** What the generator returns once the file is read to its end. */
export interface TraceReadResult {
  /** The file ends before its footer (or, in the JSON document layout, before
   *  its closing "]}"), or with a partial last line: a crashed recording.
   *  Everything up to the last whole line was yielded. */
  truncated: boolean;
  /** Lines yielded (header and footer included). */
  lines: number;
}

export interface ReadTraceOptions {
  /** A line longer than this (without its newline) is an error. */
  maxLineBytes?: number;
}

// ---- the fields of each line type ------------------------------------------

export interface FieldRule {
  /** Ends the message "<type>: field <name> must be ...". */
  what: string;
  ok(value: unknown): boolean;
  /** The same constraint in JSON Schema; the unit tests check that
   *  docs/trace-format.schema.json says exactly this for the field. */
  schema: Record<string, unknown>;
}

export type TraceLineType = TraceLine['type'];
/** Fields added by a minor version: a file of an older minor lacks them, and
 *  the reader fills them in (fillSinceMinor1), so they are optional on the wire. */
type AddedSinceMinor1 = 'cgroupId';
type OnTheWire<L> = Omit<L, AddedSinceMinor1> & Partial<Pick<L, AddedSinceMinor1 & keyof L>>;
type LineOf<T extends TraceLineType> = OnTheWire<Extract<TraceLine, { type: T }>>;
type RequiredKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? never : K }[keyof T];
type OptionalKeys<T> = Exclude<keyof T, RequiredKeys<T>>;
/** One rule per field of the TypeScript types (format.ts), no more, no fewer:
 *  the compiler keeps these tables and the types in step. */
type FieldTable = { [T in TraceLineType]: Record<Exclude<RequiredKeys<LineOf<T>>, 'type'>, FieldRule> };
type OptionalFieldTable = { [T in TraceLineType]: Record<OptionalKeys<LineOf<T>>, FieldRule> };

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const STRING: FieldRule = { what: 'a string', ok: (v) => typeof v === 'string', schema: { type: 'string' } };
// JSON.parse turns 1e999 into Infinity, hence "finite".
const NUMBER: FieldRule = { what: 'a number', ok: isNumber, schema: { type: 'number' } };
const BOOLEAN: FieldRule = { what: 'a boolean', ok: (v) => typeof v === 'boolean', schema: { type: 'boolean' } };
const STRINGS: FieldRule = {
  what: 'an array of strings', ok: (v) => Array.isArray(v) && v.every((s) => typeof s === 'string'),
  schema: { type: 'array', items: { type: 'string' } },
};
const STRING_OR_NULL: FieldRule = {
  what: 'a string or null', ok: (v) => v === null || typeof v === 'string', schema: { type: ['string', 'null'] },
};
const NUMBER_OR_NULL: FieldRule = {
  what: 'a number or null', ok: (v) => v === null || isNumber(v), schema: { type: ['number', 'null'] },
};
const STATE: FieldRule = {
  what: 'a TCP state number (1..13)',
  ok: (v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 13,
  schema: { type: 'integer', minimum: 1, maximum: 13 },
};

function oneOf(values: readonly (string | number | null)[]): FieldRule {
  const shown = values.map((v) => JSON.stringify(v));
  return {
    what: values.length === 2 ? shown.join(' or ') : `one of ${shown.join(', ')}`,
    ok: (v) => values.includes(v as string | number | null),
    schema: { enum: [...values] },
  };
}

const PHASE = oneOf(['start', 'end']);
const FAMILY = oneOf([4, 6]);

/** Record<keyof TracerCounters, ...>: the compiler says when a counter is added. */
const COUNTER_NAMES = Object.keys({
  lostEvents: 0, lostRingBufferFull: 0, lostNested: 0, nestedCaught: 0, inferred: 0, untrackedSockets: 0,
} satisfies Record<keyof TracerCounters, 0>);

const COUNTERS: FieldRule = {
  what: `an object of numbers with ${COUNTER_NAMES.join(', ')}`,
  ok: (v) => isObject(v) && COUNTER_NAMES.every((name) => Object.hasOwn(v, name)) && Object.values(v).every(isNumber),
  schema: {
    type: 'object',
    required: COUNTER_NAMES,
    properties: Object.fromEntries(COUNTER_NAMES.map((name) => [name, { type: 'number' }])),
    // A later minor version may add counters; they are numbers too.
    additionalProperties: { type: 'number' },
  },
};

// MAJOR.MINOR, without leading zeros; 9 digits keep the numbers exact.
const VERSION_PATTERN = /^(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})$/;
const VERSION: FieldRule = {
  what: `"${TRACE_MAJOR}.MINOR"`,
  ok: (v) => typeof v === 'string' && VERSION_PATTERN.test(v) && Number(v.split('.')[0]) === TRACE_MAJOR,
  schema: { type: 'string', pattern: `^${TRACE_MAJOR}\\.(0|[1-9][0-9]{0,8})$` },
};

const ADDRESS = {
  skaddr: STRING, sockId: NUMBER, family: FAMILY, saddr: STRING, sport: NUMBER, daddr: STRING, dport: NUMBER,
  netns: NUMBER,
};

/** Every field each line type must have. Fields not listed here are allowed
 *  (a later minor version may add them) as long as they are not nested. */
export const TRACE_FIELDS: FieldTable = {
  header: {
    format: { what: JSON.stringify(TRACE_FORMAT), ok: (v) => v === TRACE_FORMAT, schema: { const: TRACE_FORMAT } },
    version: VERSION, host: STRING, kernel: STRING, startTime: STRING, startNs: NUMBER, wallOffsetMs: NUMBER,
    options: { what: 'an object', ok: isObject, schema: { type: 'object' } },
  },
  snapshot: { phase: PHASE, tsNs: NUMBER },
  socket: { phase: PHASE, ...ADDRESS, uid: NUMBER, inode: NUMBER, state: STATE },
  file: { phase: PHASE, skaddr: STRING, sockId: NUMBER, pid: NUMBER, fd: NUMBER, comm: STRING },
  cgroup: { id: NUMBER, path: STRING },
  event: {
    kind: oneOf(EVENT_KINDS), tsNs: NUMBER, ...ADDRESS, oldstate: STATE, newstate: STATE,
    prevStateNs: NUMBER_OR_NULL, pid: NUMBER_OR_NULL, comm: STRING_OR_NULL, ownerSource: oneOf(OWNER_SOURCES),
    inferred: BOOLEAN, txBytes: NUMBER, rxBytes: NUMBER, error: NUMBER, peerFinReceived: BOOLEAN,
    idleNs: NUMBER_OR_NULL,
  },
  lost: { count: NUMBER, total: NUMBER },
  footer: { endTime: STRING, endNs: NUMBER, events: NUMBER, counters: COUNTERS },
};

/** Fields a line may leave out; when present, they must follow their rule. */
export const TRACE_OPTIONAL_FIELDS: OptionalFieldTable = {
  // Since 1.3, a capture's header: the recording kernel's RST reason names by code.
  header: { resetReasons: STRINGS, netns: NUMBER }, snapshot: {}, cgroup: {}, lost: {}, footer: {},
  // Since 1.1: the owner's (holder's) cgroup id, the timewait substate, and listeners' accept queues;
  // since 1.3, listeners' drops, and the RST that ended a connection.
  event: { cgroupId: NUMBER_OR_NULL, reset: oneOf(['received', 'sent', null]), resetReason: STRING_OR_NULL },
  socket: { twSubstate: STATE, acceptQueue: NUMBER, acceptQueueLimit: NUMBER, listenDrops: NUMBER },
  file: { cmdline: STRING, cgroupId: NUMBER },
};

/** The fields each line type requires, `type` included (as the schema's `required`). */
export const REQUIRED_FIELDS = Object.fromEntries(
  Object.entries(TRACE_FIELDS).map(([type, fields]) => [type, ['type', ...Object.keys(fields)]]),
) as unknown as Record<TraceLineType, readonly string[]>;

type RuleList = readonly (readonly [string, FieldRule])[];
// The tables as arrays: this runs for every line of files of millions of lines.
const REQUIRED_RULES = listRules(TRACE_FIELDS);
const OPTIONAL_RULES = listRules(TRACE_OPTIONAL_FIELDS);

function listRules(table: Record<TraceLineType, Record<string, FieldRule>>): Record<TraceLineType, RuleList> {
  const entries = Object.entries(table).map(([type, rules]) => [type, Object.entries(rules)]);
  return Object.fromEntries(entries) as Record<TraceLineType, RuleList>;
}

/** Why `line` (whose `type` is `type`) is not a valid line, or undefined. */
function fieldProblem(line: Record<string, unknown>, type: TraceLineType): string | undefined {
  const required = REQUIRED_RULES[type];
  for (let i = 0; i < required.length; i++) {
    const [name, rule] = required[i];
    if (!rule.ok(line[name])) { // no rule accepts undefined
      return Object.hasOwn(line, name) ? `${type}: field ${name} must be ${rule.what}` : `${type}: field ${name} is missing`;
    }
  }
  let known = required.length + 1; // and `type`
  for (const [name, rule] of OPTIONAL_RULES[type]) {
    if (!Object.hasOwn(line, name)) continue;
    if (!rule.ok(line[name])) return `${type}: field ${name} must be ${rule.what}`;
    known++;
  }
  // Only fields we know, all checked: the usual case, and no loop needed.
  // Otherwise unknown fields (a later minor version's) may be there, but flat.
  return Object.keys(line).length === known ? undefined : unknownFieldProblem(line, type);
}

function unknownFieldProblem(line: Record<string, unknown>, type: TraceLineType): string | undefined {
  for (const name in line) {
    const value = line[name];
    if (typeof value === 'object' && value !== null && !Object.hasOwn(TRACE_FIELDS[type], name)
      && !Object.hasOwn(TRACE_OPTIONAL_FIELDS[type], name)) {
      return `${type}: field ${name} must not be an object or array`;
    }
  }
  return undefined;
}

/**
 * Why `value` (one parsed line) is not a valid line, or undefined. Checks the
 * fields only: the order of lines is readTrace's business.
 */
export function traceLineProblem(value: unknown): string | undefined {
  if (!isObject(value)) return 'not a JSON object';
  const type = value.type;
  if (typeof type !== 'string') return type === undefined ? 'field type is missing' : 'field type must be a string';
  if (!Object.hasOwn(TRACE_FIELDS, type)) return `unknown line type ${show(type)}`;
  return fieldProblem(value, type as TraceLineType);
}

function isOfUnknownType(value: unknown): boolean {
  return isObject(value) && typeof value.type === 'string' && !Object.hasOwn(TRACE_FIELDS, value.type);
}

// ---- bytes -> lines ---------------------------------------------------------

/**
 * Splits chunks into lines at '\n', holding only the unfinished line (copied,
 * so the chunk it came from can be freed). Fails as soon as a line passes the
 * cap, not when its newline finally arrives: a hostile file may have none.
 */
class LineSplitter {
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** Whole lines so far: after a yield, the 1-based number of that line. */
  count = 0;

  constructor(private readonly max: number, private readonly tooLong: (lineNumber: number) => never) {}

  *push(chunk: Buffer): Generator<Buffer> {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(0x0a, start);
      const end = newline < 0 ? chunk.length : newline;
      if (this.heldBytes + end - start > this.max) this.tooLong(this.count + 1);
      if (newline < 0) {
        if (end > start) this.hold(chunk.subarray(start));
        return;
      }
      const line = this.take(chunk.subarray(start, newline));
      this.count++;
      yield line;
      start = newline + 1;
    }
  }

  /** The bytes after the last newline (a partial line), or null if none. */
  rest(): Buffer | null {
    return this.heldBytes === 0 ? null : this.take(Buffer.alloc(0));
  }

  private hold(part: Buffer): void {
    this.held.push(Buffer.from(part));
    this.heldBytes += part.length;
  }

  private take(tail: Buffer): Buffer {
    if (this.held.length === 0) return tail;
    const line = Buffer.concat([...this.held, tail]);
    this.held = [];
    this.heldBytes = 0;
    return line;
  }
}

/**
 * Whether `text` nests [ and { deeper than `limit` (outside strings). Runs
 * before JSON.parse so that a line of 60,000 '[' costs one pass and no stack.
 */
export function nestsDeeperThan(text: string, limit: number): boolean {
  // Most lines (events) have one '{' and no '[': two native scans settle them.
  if (limit >= 1 && text.indexOf('{', 1) < 0 && text.indexOf('[') < 0) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return false;
}

// ---- the order of lines -----------------------------------------------------

/** Where in the file we are: each section may only move forward. */
const SECTION = { none: 0, header: 1, startSnapshot: 2, events: 3, endSnapshot: 4, footer: 5 } as const;
type Section = (typeof SECTION)[keyof typeof SECTION];
const SECTION_NAMES = ['nothing', 'the header', 'the start snapshot', 'the events', 'the end snapshot', 'the footer'];

/** The `--format json` document: `{"header":` header `,"lines":[` on line 1,
 *  then one element per line, each but the last followed by ",", then "]}". */
const DOC_OPEN = '{"header":';
const DOC_LINES = ',"lines":[';
const DOC_CLOSE = ']}';
/** After line 1: no element yet, an element and ",", the last element, "]}". */
type DocState = 'open' | 'comma' | 'last' | 'closed';

/** Validates lines one at a time, in order; keeps only a few flags. */
export class TraceChecker {
  private layout: 'jsonl' | 'document' = 'jsonl';
  private doc: DocState = 'open';
  private section: Section = SECTION.none;
  /** The file is a later minor version: skip line types we do not know. */
  private newerMinor = false;
  yielded = 0;

  /** `where` starts each message: "file:line" by default (a capture says which block). */
  constructor(private readonly path: string, private readonly where = (lineNumber: number) => `${path}:${lineNumber}`) {}

  fail(lineNumber: number, reason: string): never {
    throw new TcptraceError(`${this.where(lineNumber)}: ${reason}`, 'ETRACE');
  }

  /** A capture's block of event records comes here: allowed where event lines are. */
  expectEvents(lineNumber: number): void {
    if (this.section === SECTION.none) this.fail(lineNumber, NO_HEADER);
    if (this.section === SECTION.footer) this.fail(lineNumber, 'events after the footer');
    this.advance({ type: 'event' } as TraceLine, lineNumber);
  }

  /** The footer has been read. */
  get complete(): boolean {
    return this.section === SECTION.footer;
  }

  /** The line's object if it is to be yielded; undefined for lines that carry none. */
  accept(bytes: Buffer, lineNumber: number): TraceLine | undefined {
    // JSON.parse would take invalid UTF-8 as U+FFFD; the format says UTF-8.
    if (!isUtf8(bytes)) this.fail(lineNumber, lineNumber === 1 ? NO_HEADER : 'not valid UTF-8');
    let text: string | undefined = bytes.toString(); // UTF-8 (no argument is the fast path)
    if (lineNumber === 1) return this.count(this.header(text));
    if (this.layout === 'document') text = this.element(text, lineNumber);
    return text === undefined ? undefined : this.count(this.line(text, lineNumber));
  }

  /** At the end of the bytes: `rest` is a last line without its newline. */
  finish(rest: Buffer | null, wholeLines: number): TraceReadResult {
    if (wholeLines === 0) {
      // Without one whole line there is no header to trust, crash or not.
      if (rest === null) throw new TcptraceError(`${this.path}: empty file`, 'ETRACE');
      this.fail(1, NO_HEADER);
    }
    let partial = rest !== null;
    // The closing "]}" is the one line that is whole without its newline.
    if (partial && this.layout === 'document' && rest!.toString('latin1') === DOC_CLOSE) {
      this.element(DOC_CLOSE, wholeLines + 1);
      partial = false;
    }
    // A crash cannot leave bytes after the footer: those are damage.
    if (partial && this.ended()) this.fail(wholeLines + 1, this.afterEnd());
    const complete = this.section === SECTION.footer && (this.layout === 'jsonl' || this.doc === 'closed');
    return { truncated: partial || !complete, lines: this.yielded };
  }

  private count(line: TraceLine | undefined): TraceLine | undefined {
    if (line) this.yielded++;
    return line;
  }

  private ended(): boolean {
    return this.layout === 'document' ? this.doc === 'closed' : this.section === SECTION.footer;
  }

  private afterEnd(): string {
    return this.layout === 'document' ? 'data after the end of the JSON document' : 'line after the footer';
  }

  /** Line 1, either layout: the header, or this is not a trace. */
  private header(text: string): TraceLine {
    if (text.startsWith(DOC_OPEN)) {
      if (!text.endsWith(DOC_LINES)) this.fail(1, NO_HEADER);
      this.layout = 'document';
      text = text.slice(DOC_OPEN.length, -DOC_LINES.length);
    }
    const value = this.parse(text, 1, NO_HEADER);
    if (!isObject(value) || value.type !== 'header') this.fail(1, NO_HEADER);
    this.checkVersion(value);
    const problem = fieldProblem(value, 'header');
    if (problem) this.fail(1, problem);
    this.section = SECTION.header;
    return value as unknown as TraceLine;
  }

  /** Format and version first: a newer major may have other fields altogether. */
  private checkVersion(header: Record<string, unknown>): void {
    if (header.format !== TRACE_FORMAT) this.fail(1, `not a tcptrace trace (format is not "${TRACE_FORMAT}")`);
    const version = header.version;
    const match = typeof version === 'string' ? VERSION_PATTERN.exec(version) : null;
    if (!match) this.fail(1, `header: malformed version ${show(version)} (expected MAJOR.MINOR)`);
    const major = Number(match[1]);
    if (major > TRACE_MAJOR) {
      this.fail(1, `trace format version ${version} is newer than this tcptrace reads (${TRACE_VERSION}): upgrade tcptrace`);
    }
    if (major < TRACE_MAJOR) {
      this.fail(1, `trace format version ${version} is older than this tcptrace reads (${TRACE_VERSION})`);
    }
    this.newerMinor = Number(match[2]) > TRACE_MINOR;
  }

  /** A document line after line 1: its element's JSON, or undefined for "]}". */
  private element(text: string, lineNumber: number): string | undefined {
    if (this.doc === 'closed') this.fail(lineNumber, this.afterEnd());
    if (text === DOC_CLOSE) {
      if (this.doc === 'comma') this.fail(lineNumber, `"${DOC_CLOSE}" after a trailing ","`);
      this.doc = 'closed';
      return undefined;
    }
    if (this.doc === 'last') this.fail(lineNumber, 'the previous line does not end with ","');
    const comma = text.endsWith(',');
    this.doc = comma ? 'comma' : 'last';
    return comma ? text.slice(0, -1) : text;
  }

  /** Any line after the header. */
  private line(text: string, lineNumber: number): TraceLine | undefined {
    const value = this.parse(text, lineNumber);
    if (this.section === SECTION.footer) this.fail(lineNumber, 'line after the footer');
    const problem = traceLineProblem(value);
    if (problem) {
      // "Minor versions only add ... line types that readers may ignore."
      if (this.newerMinor && isOfUnknownType(value)) return undefined;
      this.fail(lineNumber, problem);
    }
    const line = value as TraceLine;
    this.advance(line, lineNumber);
    fillSinceMinor1(line);
    return line;
  }

  private parse(text: string, lineNumber: number, reason = 'not JSON'): unknown {
    if (nestsDeeperThan(text, MAX_NESTING)) this.fail(lineNumber, `nested deeper than ${MAX_NESTING} levels`);
    try {
      return JSON.parse(text);
    } catch {
      return this.fail(lineNumber, reason);
    }
  }

  /** Moves to the line's section, if the order allows it. */
  private advance(line: TraceLine, lineNumber: number): void {
    // Anywhere between the header and the footer (the footer itself is checked before).
    if (line.type === 'cgroup') return;
    const to = sectionOf(line);
    const from = this.section;
    const ok = line.type === 'socket' || line.type === 'file'
      ? from === to // only inside their snapshot, after its mark
      : line.type === 'event' || line.type === 'lost'
        ? from <= to
        : from < to; // a snapshot mark or the footer: once
    if (!ok) {
      if (line.type === 'header') this.fail(lineNumber, 'a second header');
      this.fail(lineNumber, `${describe(line)} out of order (after ${SECTION_NAMES[from]})`);
    }
    this.section = to;
  }
}

const NO_HEADER = 'not a tcptrace trace (no header)';

/** A 1.0 trace has no cgroup ids: its readers see "not known", as for a live event without an owner. */
function fillSinceMinor1(line: TraceLine): void {
  if (line.type === 'event') line.cgroupId ??= null;
  else if (line.type === 'file') line.cgroupId ??= 0;
}

function sectionOf(line: Exclude<TraceLine, { type: 'cgroup' }>): Section {
  switch (line.type) {
    case 'header': return SECTION.header;
    case 'snapshot': case 'socket': case 'file':
      return line.phase === 'start' ? SECTION.startSnapshot : SECTION.endSnapshot;
    case 'event': case 'lost': return SECTION.events;
    case 'footer': return SECTION.footer;
  }
}

function describe(line: TraceLine): string {
  if (line.type === 'snapshot') return `${line.phase} snapshot`;
  if (line.type === 'socket' || line.type === 'file') return `${line.type} line of the ${line.phase} snapshot`;
  return line.type;
}

/** A value for a message: JSON, cut short (it comes from the file). */
function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}

// ---- the file -----------------------------------------------------------------

function openError(path: string, err: unknown): TcptraceError {
  const code = (err as NodeJS.ErrnoException).code;
  const reason = code === 'ENOENT' ? 'no such file'
    : code === 'EACCES' ? 'permission denied'
      : code === 'EISDIR' ? 'is a directory'
        : `cannot read (${(err as Error).message})`;
  return new TcptraceError(`${path}: ${reason}`, 'ETRACE');
}

function streamError(path: string, err: unknown, gzip: boolean): TcptraceError {
  const code = String((err as NodeJS.ErrnoException).code ?? '');
  if (gzip && code.startsWith('Z_')) {
    return new TcptraceError(`${path}: corrupt gzip data (${(err as Error).message})`, 'ETRACE');
  }
  return openError(path, err);
}

/**
 * The file's bytes, decompressed if they start with the gzip magic (whatever
 * the name says). A gzip stream cut short by a crash just ends (Z_SYNC_FLUSH),
 * so it reads like a truncated plain file; damaged data still fails.
 */
async function openTrace(path: string): Promise<{ stream: Readable; gzip: boolean }> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(path, 'r');
  } catch (err) {
    throw openError(path, err);
  }
  let magic: Buffer;
  try {
    const { bytesRead, buffer } = await handle.read(Buffer.alloc(2), 0, 2, 0);
    magic = buffer.subarray(0, bytesRead);
  } catch (err) {
    await handle.close();
    throw openError(path, err);
  }
  if (magic.length === 0) {
    await handle.close();
    throw new TcptraceError(`${path}: empty file`, 'ETRACE');
  }
  const file = handle.createReadStream({ start: 0, highWaterMark: READ_CHUNK_BYTES });
  if (magic.length < 2 || magic[0] !== 0x1f || magic[1] !== 0x8b) return { stream: file, gzip: false };
  // Output chunks as large as the file's: zlib's 16 KiB default costs twice the time.
  const gunzip = zlib.createGunzip({ finishFlush: zlib.constants.Z_SYNC_FLUSH, chunkSize: READ_CHUNK_BYTES });
  // pipeline forwards errors and destroys both streams when either ends early;
  // the error itself reaches us through gunzip's iterator.
  pipeline(file, gunzip, () => undefined);
  return { stream: gunzip, gzip: true };
}

/**
 * Streams the trace at `path`, yielding each line once it is validated, in
 * file order (the header first). Either layout: JSON Lines, or the
 * `--format json` document; plain or gzip.
 *
 * Throws TcptraceError (from the first next() on), "path:line: reason" for a
 * bad line, "path: reason" for the file as a whole. The generator's return
 * value (next() with done: true) says whether the file was truncated; with
 * `for await` it is lost, so use forEachTraceLine to get it.
 *
 * Lines of a type a newer minor version added are skipped; unknown fields
 * of known types are kept in the yielded objects.
 */
export async function* readTrace(
  path: string, options: ReadTraceOptions = {},
): AsyncGenerator<TraceLine, TraceReadResult, undefined> {
  const max = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxLineBytes must be a positive integer, not ${max}`);
  if (await isCaptureFile(path)) return yield* readCaptureLines(path, captureChecker(path));
  const checker = new TraceChecker(path);
  const splitter = new LineSplitter(max, (n) => checker.fail(n, `line is longer than ${max} bytes`));
  const { stream, gzip } = await openTrace(path);
  const chunks = stream[Symbol.asyncIterator]();
  try {
    for (;;) {
      let next: IteratorResult<Buffer>;
      try {
        next = await chunks.next();
      } catch (err) {
        throw streamError(path, err, gzip);
      }
      if (next.done) break;
      for (const bytes of splitter.push(next.value)) {
        const line = checker.accept(bytes, splitter.count);
        if (line) yield line;
      }
    }
    return checker.finish(splitter.rest(), splitter.count);
  } finally {
    stream.destroy(); // also when the consumer stops early or a line fails
  }
}

function captureChecker(path: string) {
  return (where: (lineNumber: number) => string) => new TraceChecker(path, where);
}

/** Lines yielded at a time by readTraceBatches from a JSON trace. */
const LINE_BATCH = 4096;

/**
 * The trace at `path`, either format, in batches: a binary capture's event
 * blocks as raw records (decoded only by consumers that need objects), and
 * lines otherwise. For the consumers that must keep up with a long trace.
 */
export async function* readTraceBatches(path: string): AsyncGenerator<CaptureItem, TraceReadResult, undefined> {
  if (await isCaptureFile(path)) return yield* readCaptureItems(path, captureChecker(path));
  const lines = readTrace(path);
  let batch: TraceLine[] = [];
  for (;;) {
    const next = await lines.next();
    if (next.done) {
      if (batch.length) yield { lines: batch };
      return next.value;
    }
    batch.push(next.value);
    if (batch.length >= LINE_BATCH) {
      yield { lines: batch };
      batch = [];
    }
  }
}

/** Calls `onLine` for each line of the trace, in order; resolves to the result. */
export async function forEachTraceLine(
  path: string, onLine: (line: TraceLine) => void | Promise<void>, options?: ReadTraceOptions,
): Promise<TraceReadResult> {
  const lines = readTrace(path, options);
  let done = false;
  try {
    for (;;) {
      const next = await lines.next();
      if (next.done) {
        done = true;
        return next.value;
      }
      await onLine(next.value);
    }
  } finally {
    // onLine threw: close the file.
    if (!done) await lines.return({ truncated: true, lines: 0 });
  }
}
