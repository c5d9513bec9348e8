/**
 * Every failure a user can meet is a TcptraceError: the CLI prints its message
 * on one line (and its details with --verbose) and exits non-zero, never with
 * a stack trace. The addon raises the same class (see native.ts).
 */
export class TcptraceError extends Error {
  /** Stable machine-readable code, e.g. "EPERM", "ELOAD", "EUSAGE". */
  code: string;
  /** Longer account for --verbose: libbpf's output, the verifier log. */
  details: string;
  /** Process exit status: 2 for usage errors, 1 otherwise. */
  exitCode: number;

  constructor(message: string, code = 'EFAIL', details = '', exitCode = 1) {
    super(message);
    this.name = 'TcptraceError';
    this.code = code;
    this.details = details;
    this.exitCode = exitCode;
  }
}

export function usageError(message: string): TcptraceError {
  return new TcptraceError(message, 'EUSAGE', '', 2);
}
