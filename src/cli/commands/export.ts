/**
 * `tcptrace export FILE --format perfetto -o OUT`: a recording as a Perfetto / Chrome trace.
 * `tcptrace export FILE --jsonl [-o OUT]`: a recording as JSON Lines, one object
 * per transition with the keys `live --json` prints (stdout without -o).
 */
import { TcptraceError, usageError } from '../../errors';
import { JsonlEncoder } from '../../export/jsonl';
import { PerfettoExporter } from '../../export/perfetto';
import { eventJsonLine, lostJsonLine } from '../../format/event-json';
import { CgroupTable } from '../../host/cgroups';
import { Clock } from '../../kernel/clock';
import { TraceHeader, TraceLine } from '../../trace/format';
import { readTrace, readTraceBatches } from '../../trace/reader';
import { STDOUT } from '../../output-file';
import { writeOutputFile } from '../output';

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
  await writeOutputFile(flags.output, async (write) => {
    const exporter = new PerfettoExporter(write, first.value as TraceHeader);
    for await (const line of lines) exporter.add(line);
    exporter.end();
  });
}

/**
 * Either format to JSON Lines, a block (or 4,096 lines) at a time: a capture's
 * records are encoded straight into their lines' bytes, and each batch is one
 * write, so memory stays flat on a long trace. Stdout unless -o names a file.
 */
async function exportJsonl(file: string, output: string = STDOUT): Promise<void> {
  const batches = readTraceBatches(file);
  const first = await batches.next();
  const header = first.done || !('lines' in first.value) ? undefined : first.value.lines[0];
  if (header?.type !== 'header') throw new TcptraceError(`${file}: not a tcptrace trace (no header)`, 'ETRACE');
  const clock = new Clock(header.wallOffsetMs);
  const cgroups = new CgroupTable();
  const encoder = new JsonlEncoder(clock);
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
  try {
    await writeOutputFile(output, async (write) => {
      for (; !item.done; item = await batches.next()) {
        if (!('lines' in item.value)) {
          write(encoder.encode(item.value.records));
          continue;
        }
        const texts = item.value.lines.map(jsonOf).filter((t): t is string => t !== undefined);
        if (texts.length) write(`${texts.join('\n')}\n`);
      }
    });
  } finally {
    if (!item.done) await batches.return({ truncated: false, lines: 0 });
  }
  if (item.done && item.value.truncated) {
    process.stderr.write(`tcptrace: ${file} was cut off (no footer): the export covers what it holds\n`);
  }
}
