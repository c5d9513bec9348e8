/** `tcptrace export FILE --format perfetto -o OUT`: a recording as a Perfetto / Chrome trace. */
import * as fs from 'node:fs';
import { TcptraceError } from '../../errors';
import { PerfettoExporter } from '../../export/perfetto';
import { TraceHeader } from '../../trace/format';
import { readTrace } from '../../trace/reader';

export interface ExportFlags {
  format: 'perfetto';
  output: string;
}

export async function runExport(file: string, flags: ExportFlags): Promise<void> {
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
