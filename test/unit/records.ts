/** Event records (struct tcptrace_event) for tests that need many, made by the decoder's layout table. */
import { EVENT_LAYOUT as L } from '../../src/kernel/decoder';
import { AF_INET, AF_INET6, TCP } from '../../src/kernel/states';

export interface RecordFields {
  ts?: bigint; skaddr?: bigint; sockId?: bigint; prevNs?: bigint;
  /** 4 bytes (IPv4) or 16 (IPv6), network order. */
  saddr?: number[]; daddr?: number[];
  netns?: number; pid?: number; sport?: number; dport?: number; family?: number;
  oldstate?: number; newstate?: number; ownerSrc?: number; comm?: Buffer | string;
  flags?: number; kind?: number; peerFin?: number; err?: number; tx?: bigint; rx?: bigint; idle?: bigint; cgroup?: bigint;
}

export function eventRecord(f: RecordFields): Buffer {
  const b = Buffer.alloc(L.size);
  b.writeBigUInt64LE(f.ts ?? 1_000_000_000n, L.ts_ns);
  b.writeBigUInt64LE(f.skaddr ?? 0xffff888100000000n, L.skaddr);
  b.writeBigUInt64LE(f.sockId ?? 1n, L.sock_id);
  b.writeBigUInt64LE(f.prevNs ?? 0n, L.prev_state_ns);
  Buffer.from(f.saddr ?? [127, 0, 0, 1]).copy(b, L.saddr);
  Buffer.from(f.daddr ?? [127, 0, 0, 1]).copy(b, L.daddr);
  b.writeUInt32LE(f.netns ?? 4026531840, L.netns);
  b.writeUInt32LE(f.pid ?? 100, L.pid);
  b.writeUInt16LE(f.sport ?? 40000, L.sport);
  b.writeUInt16LE(f.dport ?? 8080, L.dport);
  b[L.family] = f.family ?? ((f.saddr?.length ?? 4) === 16 ? AF_INET6 : AF_INET);
  b[L.oldstate] = f.oldstate ?? TCP.ESTABLISHED;
  b[L.newstate] = f.newstate ?? TCP.FIN_WAIT1;
  b[L.owner_src] = f.ownerSrc ?? 1;
  (typeof f.comm === 'string' ? Buffer.from(f.comm, 'latin1') : f.comm ?? Buffer.from('node')).copy(b, L.comm, 0, 16);
  b[L.flags] = f.flags ?? 0;
  b[L.kind] = f.kind ?? 0;
  b[L.peer_fin] = f.peerFin ?? 0;
  b.writeUInt16LE(f.err ?? 0, L.sk_err);
  b.writeBigUInt64LE(f.tx ?? 0n, L.tx_bytes);
  b.writeBigUInt64LE(f.rx ?? 0n, L.rx_bytes);
  b.writeBigUInt64LE(f.idle ?? 0n, L.idle_ns);
  b.writeBigUInt64LE(f.cgroup ?? 0n, L.cgroup_id);
  return b;
}

/** `n` records of a storm's kind: ten transitions per connection, times and ports moving on. */
export function stormRecords(n: number, seed = 1): Buffer {
  const states = [
    [TCP.CLOSE, TCP.SYN_SENT], [TCP.SYN_SENT, TCP.ESTABLISHED], [TCP.LISTEN, TCP.SYN_RECV], [TCP.SYN_RECV, TCP.ESTABLISHED],
    [TCP.ESTABLISHED, TCP.FIN_WAIT1], [TCP.ESTABLISHED, TCP.CLOSE_WAIT], [TCP.FIN_WAIT1, TCP.FIN_WAIT2],
    [TCP.CLOSE_WAIT, TCP.LAST_ACK], [TCP.FIN_WAIT2, TCP.CLOSE], [TCP.LAST_ACK, TCP.CLOSE],
  ];
  const records: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const connection = Math.floor(i / 10) + seed * 100_000;
    const [oldstate, newstate] = states[i % 10];
    records.push(eventRecord({
      ts: 5_000_000_000_000n + BigInt(i) * 1_117n + BigInt(seed), sockId: BigInt(connection * 2 + (i % 2)),
      skaddr: 0xffff888100000000n + BigInt(connection % 4096) * 0x800n, prevNs: BigInt((i * 7919) % 100_000),
      sport: 32768 + (connection % 28000), dport: 9000 + (connection % 8), pid: 2000 + (i % 2), oldstate, newstate,
      ownerSrc: (i % 3) + 1, comm: i % 2 ? 'tcpstorm' : 'node', cgroup: 7263n, flags: i % 997 === 0 ? 1 : 0,
    }));
  }
  return Buffer.concat(records);
}
