/** `tcptrace export FILE --format perfetto -o OUT`: a recording as a Perfetto / Chrome trace. */
import * as fs from 'node:fs';
import { TcptraceError } from '../errors';
import { PerfettoExporter } from '../export/perfetto';
import { TraceHeader } from '../trace/format';
import { readTrace } from '../trace/reader';

export interface ExportFlags {
  format: 'perfetto';
  output: string;
}

export async function runExport(file: string, flags: ExportFlags): Promise<void> {
  const out = fs.createWriteStream(flags.output);
  let failure: Error | undefined;
  out.on('error', (err) => { failure ??= err; });
  let exporter: PerfettoExporter | undefined;
  for await (const line of readTrace(file)) {
    if (line.type === 'header') exporter = new PerfettoExporter((chunk) => { out.write(chunk); }, line as TraceHeader);
    else exporter!.add(line);
    if (failure) break;
  }
  exporter?.end();
  await new Promise<void>((resolve) => out.end(resolve));
  if (failure) throw new TcptraceError(`cannot write ${flags.output}: ${failure.message}`, 'EWRITE');
}
