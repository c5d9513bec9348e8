/** `tcptrace export FILE --format perfetto -o OUT`: a recording as a Perfetto / Chrome trace. */
import { TcptraceError } from '../../errors';
import { PerfettoExporter } from '../../export/perfetto';
import { TraceHeader } from '../../trace/format';
import { readTrace } from '../../trace/reader';
import { writeOutputFile } from '../output';

export interface ExportFlags {
  format: 'perfetto';
  output: string;
}

export async function runExport(file: string, flags: ExportFlags): Promise<void> {
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
