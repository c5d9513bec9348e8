/**
 * Which recording `record -o FILE` (or `--record FILE`) writes: the binary
 * capture by default, JSON Lines (or one JSON document) when asked with
 * --format, or when the name says JSON (.jsonl, .json, .gz), as before the
 * capture existed.
 */
import { CgroupNames } from '../host/cgroups';
import { CaptureWriter } from './capture-writer';
import { TraceLayout, TraceWriter } from './writer';

export type RecordFormat = 'capture' | TraceLayout;
export const RECORD_FORMATS: readonly RecordFormat[] = ['capture', 'jsonl', 'json'];

export type Recording = CaptureWriter | TraceWriter;

/** The format asked for, or the one the file's name implies. */
export function recordFormatFor(path: string, asked?: RecordFormat): RecordFormat {
  if (asked) return asked;
  return /\.(jsonl|json|gz)$/.test(path) ? 'jsonl' : 'capture';
}

export function openRecording(path: string, format: RecordFormat, cgroups: CgroupNames): Recording {
  return format === 'capture' ? new CaptureWriter(path, cgroups) : new TraceWriter(path, format, cgroups);
}
