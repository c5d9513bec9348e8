/**
 * `tcptrace export FILE --format perfetto -o OUT`: a recording as a Perfetto / Chrome trace.
 * `tcptrace export FILE --jsonl [-o OUT]`: a recording as JSON Lines, one object
 * per transition with the keys `live --json` prints (stdout without -o).
 */
import * as fs from 'node:fs';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { TcptraceError, usageError } from '../../errors';
import { JsonlEncoder } from '../../export/jsonl';
import { PerfettoExporter } from '../../export/perfetto';
import { eventJsonLine, lostJsonLine } from '../../format/event-json';
import { CgroupTable } from '../../host/cgroups';
import { Clock } from '../../kernel/clock';
import { TraceHeader, TraceLine } from '../../trace/format';
import { readTrace, readTraceBatches } from '../../trace/reader';

export interface ExportFlags {
  format: 'perfetto';
  jsonl?: boolean;
  output?: string;
}

export async function runExport(file: string, flags: ExportFlags): Promise<void> {
  if (flags.jsonl) return exportJsonl(file, flags.output);
  if (!flags.output) throw usageError('--format perfetto needs -o <file>');
  const lines = readTrace(file);
  // The header first: a missing or foreign file fails before the output is created.
  const first = await lines.next();
  if (first.done) throw new TcptraceError(`${file}: not a tcptrace trace (no header)`, 'ETRACE');
  const out = fs.createWriteStream(flags.output);
  let failure: Error | undefined;
  out.on('error', (err) => { failure ??= err; });
  const exporter = new PerfettoExporter((chunk) => { out.write(chunk); }, first.value as TraceHeader);
  for await (const line of lines) {
    exporter.add(line);
    if (failure) break;
  }
  exporter.end();
  await new Promise<void>((resolve) => out.end(resolve));
  if (failure) throw new TcptraceError(`cannot write ${flags.output}: ${failure.message}`, 'EWRITE');
}

/**
 * Either format to JSON Lines, a block (or 4,096 lines) at a time: a capture's
 * records are encoded straight into their lines' bytes, and each batch is one write
 * that waits for the output to drain, so memory stays flat on a long trace.
 */
async function exportJsonl(file: string, output: string | undefined): Promise<void> {
  const batches = readTraceBatches(file);
  const first = await batches.next();
  const header = first.done || !('lines' in first.value) ? undefined : first.value.lines[0];
  if (header?.type !== 'header') throw new TcptraceError(`${file}: not a tcptrace trace (no header)`, 'ETRACE');
  const clock = new Clock(header.wallOffsetMs);
  const cgroups = new CgroupTable();
  const encoder = new JsonlEncoder(clock);
  const out = output ? fs.createWriteStream(output) : process.stdout;
  let failure: NodeJS.ErrnoException | undefined;
  out.on('error', (err: NodeJS.ErrnoException) => { failure ??= err; });
  const jsonOf = (line: TraceLine): string | undefined => {
    if (line.type === 'cgroup') {
      cgroups.add(line.id, line.path);
      encoder.nameCgroup(line.id, line.path, cgroups.containerOf(line.id));
    }
    // As live --json: transitions only (a recording also has accept() events).
    else if (line.type === 'event') return line.kind === 'transition' ? eventJsonLine(line, clock, cgroups) : undefined;
    else if (line.type === 'lost') return lostJsonLine(line.count);
    return undefined;
  };
  let item = first;
  while (!item.done && !failure) {
    if ('lines' in item.value) {
      const texts: string[] = [];
      for (const line of item.value.lines) {
        const text = jsonOf(line);
        if (text !== undefined) texts.push(text);
      }
      if (texts.length) await writeChunk(out, `${texts.join('\n')}\n`);
    } else {
      await writeChunk(out, encoder.encode(item.value.records));
    }
    item = await batches.next();
  }
  if (!item.done) await batches.return({ truncated: false, lines: 0 });
  if (output) await new Promise<void>((resolve) => (out as fs.WriteStream).end(resolve));
  // `| head`: the reader has what it wanted.
  if (failure && failure.code !== 'EPIPE') throw new TcptraceError(`cannot write ${output ?? 'stdout'}: ${failure.message}`, 'EWRITE');
  if (item.done && item.value.truncated) {
    process.stderr.write(`tcptrace: ${file} was cut off (no footer): the export covers what it holds\n`);
  }
}

async function writeChunk(out: Writable, text: string | Buffer): Promise<void> {
  // An error ends the wait too (once() rejects); the 'error' listener keeps it.
  if (!out.write(text)) await once(out, 'drain').catch(() => undefined);
}
