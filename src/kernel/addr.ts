import { AF_INET } from './states';

/** Text of a 16-byte address field: dotted IPv4 or RFC 5952 IPv6 (as ss prints). */
export function formatAddress(buf: Uint8Array, offset: number, family: number): string {
  if (family === AF_INET) {
    return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
  }
  return formatIPv6(buf, offset);
}

function formatIPv6(buf: Uint8Array, offset: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((buf[offset + i] << 8) | buf[offset + i + 1]);

  // IPv4-mapped (::ffff:a.b.c.d), as a dual-stack listener's child shows it.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${buf[offset + 12]}.${buf[offset + 13]}.${buf[offset + 14]}.${buf[offset + 15]}`;
  }
  const [runStart, runLength] = longestZeroRun(groups);
  const hex = groups.map((g) => g.toString(16));
  if (runLength < 2) return hex.join(':');
  const head = hex.slice(0, runStart).join(':');
  const tail = hex.slice(runStart + runLength).join(':');
  return `${head}::${tail}`;
}

function longestZeroRun(groups: number[]): [number, number] {
  let bestStart = -1, bestLength = 0;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < groups.length && groups[j] === 0) j++;
    if (j - i > bestLength) { bestStart = i; bestLength = j - i; }
    i = j;
  }
  return [bestStart, bestLength];
}

/** "addr:port", with IPv6 in brackets as ss and URLs write it. */
export function formatEndpoint(addr: string, port: number): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** 127.0.0.0/8, ::1, and 127/8 mapped into IPv6, as formatAddress writes them. */
export function isLoopback(addr: string): boolean {
  return addr.startsWith('127.') || addr === '::1' || addr.startsWith('::ffff:127.');
}
