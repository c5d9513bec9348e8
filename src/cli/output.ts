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
