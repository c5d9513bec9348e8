/** `tcptrace record -o FILE`: the trace to a file, for `report` and `export` elsewhere. */
import { FilterFlags } from '../options';
import { LineOutput } from '../output';
import { RecordFormat } from '../../trace/recording';
import { finishCommand, openLiveSource } from '../run';
import { thousands } from '../../units';
import { STDOUT } from '../../output-file';

export interface RecordCmdFlags extends FilterFlags {
  output: string;
  format?: RecordFormat;
  duration?: number;
  verbose?: boolean;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

export async function runRecord(flags: RecordCmdFlags): Promise<void> {
  const source = openLiveSource({ ...flags, record: flags.output, recordFormat: flags.format }, { command: 'record', needsEvents: false });
  const writer = source.recording!;
  const startedMs = Date.now();
  const status = () => {
    const c = source.counters();
    process.stderr.write(`\rrecording ${((Date.now() - startedMs) / 1000).toFixed(0)} s  ` +
      `${thousands(writer.events)} events  ${megabytes(writer.bytesWritten)} written  lost ${c.lostEvents}   `);
  };
  const timer = process.stderr.isTTY ? setInterval(status, 1000) : undefined;
  try {
    await source.run({ onEvents: () => {} });
  } finally {
    if (timer) {
      clearInterval(timer);
      process.stderr.write('\n');
    }
  }
  const where = flags.output === STDOUT ? 'stdout' : flags.output;
  // Events, not transitions: a recording also keeps each accept() (report counts transitions).
  process.stderr.write(`tcptrace: wrote ${thousands(writer.events)} events (transitions and accepts) to ${where} (${megabytes(writer.bytesWritten)})\n`);
  await finishCommand(source, new LineOutput(), flags.verbose);
}
