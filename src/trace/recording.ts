/**
 * Which recording `record -o FILE` (or `--record FILE`) writes: the binary
 * capture by default, JSON Lines (or one JSON document) when asked with
 * --format, or when the name says JSON (.jsonl, .json, .gz), as before the
 * capture existed.
 */
import { CgroupNames } from '../host/cgroups';
import { usageError } from '../errors';
import { STDOUT } from '../output-file';
import { CaptureWriter } from './capture-writer';
import { TraceLayout, TraceWriter } from './writer';

export type RecordFormat = 'capture' | TraceLayout;
export const RECORD_FORMATS: readonly RecordFormat[] = ['capture', 'jsonl', 'json'];

export type Recording = CaptureWriter | TraceWriter;

/** The format asked for, or the one the file's name implies: stdout ("-") is for text, JSON Lines. */
export function recordFormatFor(path: string, asked?: RecordFormat): RecordFormat {
  if (asked) return asked;
  return path === STDOUT || /\.(jsonl|json|gz)$/.test(path) ? 'jsonl' : 'capture';
}

export function openRecording(path: string, format: RecordFormat, cgroups: CgroupNames): Recording {
  if (format === 'capture' && path === STDOUT) throw usageError('a binary capture goes to a file: for stdout, --format jsonl');
  return format === 'capture' ? new CaptureWriter(path, cgroups) : new TraceWriter(path, format, cgroups);
}
