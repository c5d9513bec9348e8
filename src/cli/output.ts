import { TcptraceError } from '../errors';
import { ANSI, Paint, PLAIN } from '../format/colour';
import { OutputClosed, OutputFile, WriteFailed, writeErrorText } from '../output-file';

/**
 * Writes whole batches of lines to stdout at once (one write per batch, not
 * per line), and turns a closed reader (`| head -1`) into a clean stop.
 */
export class LineOutput {
  private closed = false;

  constructor(private readonly stream: NodeJS.WriteStream = process.stdout, onClosed: () => void = () => {}) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      this.closed = true;
      onClosed();
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  writeLines(lines: string[]): void {
    if (this.closed || lines.length === 0) return;
    this.stream.write(lines.join('\n') + '\n');
  }

  /** Replaces the screen's content (terminal views). */
  redraw(text: string): void {
    if (!this.closed) this.stream.write(`\x1b[H\x1b[2J${text}\n`);
  }

  /** Resolves once everything written so far has left the process. */
  flush(): Promise<void> {
    if (this.closed || this.stream.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => this.stream.write('', () => resolve()));
  }
}

/** Lines wider than this are too wide when stdout is not a terminal and $COLUMNS is unset. */
const PIPE_WIDTH = 160;

/** The columns text reports fit into: the terminal's, else $COLUMNS, else PIPE_WIDTH. */
export function outputWidth(stream: NodeJS.WriteStream = process.stdout): number {
  if (stream.isTTY && stream.columns) return stream.columns;
  const columns = Number(process.env.COLUMNS);
  return Number.isInteger(columns) && columns > 0 ? columns : PIPE_WIDTH;
}

const WRITE_BYTES = 1 << 16;

/**
 * A command's output file ("-": stdout), whole or not at all: written under a
 * temporary name and renamed once `produce` is done; on any failure the
 * temporary file is removed and what was there before stays. A closed stdout
 * stays OutputClosed (a clean stop); other failures are one line naming the file.
 */
export async function writeOutputFile(
  target: string, produce: (write: (chunk: string | Buffer) => void) => Promise<void> | void,
): Promise<void> {
  let file: OutputFile;
  try {
    file = OutputFile.open(target);
  } catch (err) {
    throw cannotWrite(target, err as Error);
  }
  // Text gathered into writes of about WRITE_BYTES: an exporter hands over many small pieces.
  let pending: string[] = [], size = 0;
  const flush = () => {
    if (size) file.write(pending.join(''));
    pending = [];
    size = 0;
  };
  try {
    await produce((chunk) => {
      if (typeof chunk !== 'string') {
        flush();
        file.write(chunk); // already a block of bytes
        return;
      }
      pending.push(chunk);
      size += chunk.length;
      if (size >= WRITE_BYTES) flush();
    });
    flush();
    file.commit();
  } catch (err) {
    file.abandon();
    if (err instanceof WriteFailed) throw cannotWrite(file.name, err.error);
    if (err instanceof OutputClosed || err instanceof TcptraceError) throw err;
    throw cannotWrite(file.name, err as Error);
  }
}

function cannotWrite(name: string, err: Error): TcptraceError {
  return new TcptraceError(`cannot write ${name}: ${writeErrorText(err)}`, 'EWRITE');
}

/** ANSI colour on a terminal unless NO_COLOR is set to anything (no-color.org); none otherwise. */
export function paintFor(stream: { isTTY?: boolean } = process.stdout, env: NodeJS.ProcessEnv = process.env): Paint {
  return stream.isTTY && !env.NO_COLOR ? ANSI : PLAIN;
}
