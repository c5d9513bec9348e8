/**
 * Where every command writes a file: never half a file under the name asked
 * for. A regular file is written under a temporary name beside it and renamed
 * when complete, so a full disk or a crash leaves the old file (or none), not
 * a truncated page or a 0-byte export. A recording is the exception, as
 * tcpdump -w's is: a journal, written in place so that a crash leaves it
 * readable to its last whole line (journal()). "-" is stdout; so is any path
 * that is not a regular file (/dev/stdout, a FIFO), written as it is. A
 * reader that goes away (`| head -1`) is a clean stop: OutputClosed, not an error.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The reader of stdout (or of a pipe) has gone: stop writing, and exit 0. */
export class OutputClosed extends Error {
  constructor() {
    super('the output was closed by its reader');
    this.name = 'OutputClosed';
  }
}

/** A write that failed part-way: the system's error, and how much of this write got out. */
export class WriteFailed extends Error {
  constructor(readonly error: NodeJS.ErrnoException, readonly written: number) {
    super(error.message);
    this.name = 'WriteFailed';
  }
}

export const STDOUT = '-';

/** Waits briefly without spinning: stdout may be a non-blocking pipe that is full. */
const pause = new Int32Array(new SharedArrayBuffer(4));

export class OutputFile {
  private closed = false;

  private constructor(
    /** The name asked for ("-" for stdout). */
    readonly path: string,
    readonly fd: number,
    /** The temporary name written to, renamed to `path` by commit(); null when written in place. */
    private readonly temporary: string | null,
  ) {}

  /** Opens `target` to write; errors are the system's (ENOENT, EACCES, ...), for the caller to name. */
  static open(target: string): OutputFile {
    if (target === STDOUT) return new OutputFile(target, 1, null);
    if (!isRegularOrAbsent(target)) return new OutputFile(target, fs.openSync(target, 'w'), null);
    const temporary = path.join(path.dirname(target), `.${path.basename(target)}.tcptrace-${process.pid}.tmp`);
    return new OutputFile(target, fs.openSync(temporary, 'w', 0o644), temporary);
  }

  /** Opens `target` to write in place, as it grows (a recording); "-" is stdout. */
  static journal(target: string): OutputFile {
    return new OutputFile(target, target === STDOUT ? 1 : fs.openSync(target, 'w'), null);
  }

  /** Written to stdout or a device, where a cut-off write cannot be undone. */
  get inPlace(): boolean {
    return this.temporary === null;
  }

  /** The name a person knows it by. */
  get name(): string {
    return this.path === STDOUT ? 'stdout' : this.path;
  }

  /** Writes all of it; throws OutputClosed if the reader has gone, WriteFailed otherwise. */
  write(data: Buffer | string): void {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    let done = 0;
    while (done < bytes.length) {
      try {
        done += fs.writeSync(this.fd, bytes, done, bytes.length - done);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') {
          Atomics.wait(pause, 0, 0, 5);
          continue;
        }
        if (code === 'EPIPE') throw new OutputClosed();
        throw new WriteFailed(err as NodeJS.ErrnoException, done);
      }
    }
  }

  /** Complete: closes it and gives it its name. */
  commit(): void {
    this.close();
    if (this.temporary) fs.renameSync(this.temporary, this.path);
  }

  /** Failed: closes it and removes the temporary file, leaving what was there before. */
  abandon(): void {
    this.close();
    if (this.temporary) fs.rmSync(this.temporary, { force: true });
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.fd !== 1) fs.closeSync(this.fd);
  }
}

function isRegularOrAbsent(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return true;
  }
}

const WRITE_ERRORS: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large',
  EIO: 'input/output error',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  ENOENT: 'no such file or directory',
  EISDIR: 'is a directory',
};

/** A write error as a person reads it: "no space left on device". */
export function writeErrorText(err: Error | undefined): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  return WRITE_ERRORS[code] ?? err?.message ?? 'unknown error';
}
