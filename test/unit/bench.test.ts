/** The bench's own arithmetic (scripts/): what it reads from bpf_stats and nsfill, and the tables it prints. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  programDeltas, programTable, ProgramRun, resetsSentLine, rowsWithoutResetPrograms, Sample, snmpCounter, walkTable,
} from '../../scripts/bench';
import { parseFillReady, transitions } from '../../scripts/generators';

/** A Markdown table's body rows as cells. */
const cells = (lines: string[]) => lines.slice(2).map((line) => line.split('|').slice(1, -1).map((cell) => cell.trim()));

const storm = (connections: number, programs?: ProgramRun[]): Sample =>
  ({ connections, seconds: 1, rate: connections, errors: 0, programs });

test('programDeltas: what each program ran between two readings, from 0 for one loaded since', () => {
  const before = new Map([[7, { name: 'on_set_state', runs: 100, ns: 25_000 }]]);
  const after = new Map([
    [7, { name: 'on_set_state', runs: 1100, ns: 275_000 }],
    [9, { name: 'on_recv', runs: 40, ns: 6000 }],
  ]);
  assert.deepEqual(programDeltas(before, after), [
    { name: 'on_set_state', runs: 1000, ns: 250_000 },
    { name: 'on_recv', runs: 40, ns: 6000 },
  ]);
});

test('programTable: one row per program per mode, medians over rounds; a program that never ran has no ns/run', () => {
  // 100 connections = 1000 transitions a round.
  const round = (stateNs: number) => storm(100, [
    { name: 'on_receive_reset', runs: 0, ns: 0 },
    { name: 'on_set_state', runs: 1000, ns: stateNs },
    { name: 'on_set_state_nested', runs: 1000, ns: 70_000 },
  ]);
  const results = new Map([
    ['untraced', [storm(100), storm(100)]],
    ['life', [round(250_000), round(300_000), round(200_000)]],
    ['bpftrace', [storm(100, [{ name: 'inet_sock_set_state', runs: 1000, ns: 200_000 }])]],
  ]);
  const rows = cells(programTable(results));
  assert.deepEqual(rows, [
    ['life', 'on_set_state', '10.00', '250', '250'],
    ['life', 'on_set_state_nested', '10.00', '70', '70'],
    ['life', 'on_receive_reset', '0.00', '-', '0'],
    ['bpftrace', 'inet_sock_set_state', '10.00', '200', '200'],
  ]);
});

test('walkTable: ms per pass is the median, ms per namespace divides it; the file-table walk covers tasks, not namespaces', () => {
  const rows = cells(walkTable([
    { what: 'count_states in each namespace', walked: { namespaces: 101, sockets: 5700 }, ms: [30.3, 20.2, 25.25] },
    { what: 'snapshot_files', walked: { sockets: 3000 }, ms: [4, 5, 6] },
  ]));
  assert.deepEqual(rows, [
    ['count_states in each namespace', '101', '5700', '25.3', '0.25', '30.3/20.2/25.3'],
    ['snapshot_files', 'all (tasks)', '3000', '5.0', '-', '4.0/5.0/6.0'],
  ]);
});

test('parseFillReady: nsfill\'s ready line, and anything else refused', () => {
  assert.deepEqual(parseFillReady('{"namespaces":100,"sockets":5600}'), { namespaces: 100, sockets: 5600 });
  assert.throws(() => parseFillReady('{"held":3}'), /not its ready line/);
  assert.throws(() => parseFillReady('nsfill: connect'), SyntaxError);
});

test('transitions: 10 per connection closed with FINs, 6 per connection the client aborts with a RST', () => {
  assert.equal(transitions(storm(100)), 1000);
  assert.equal(transitions({ ...storm(100), aborted: true }), 600);
});

test('programTable: an aborting storm\'s ns/transition divides by its 6 transitions per connection', () => {
  const aborted = { ...storm(100, [{ name: 'on_send_reset', runs: 100, ns: 60_000 }]), aborted: true };
  assert.deepEqual(cells(programTable(new Map([['life', [aborted]]]))), [['life', 'on_send_reset', '1.00', '600', '100']]);
});

// /proc/net/snmp as Linux 6.x prints it, cut short: a line of names, then one of values, per group.
const SNMP = [
  'Ip: Forwarding DefaultTTL InReceives',
  'Ip: 1 64 123456',
  'Tcp: RtoAlgorithm RtoMin ActiveOpens EstabResets OutRsts InCsumErrors',
  'Tcp: 1 200 5000 12 67462 0',
  'Udp: InDatagrams OutRsts',
  'Udp: 7 8',
  '',
].join('\n');

test('snmpCounter: a counter by group and name, not one of another group with the same name; undefined when absent', () => {
  assert.equal(snmpCounter(SNMP, 'Tcp', 'OutRsts'), 67462);
  assert.equal(snmpCounter(SNMP, 'Udp', 'OutRsts'), 8);
  assert.equal(snmpCounter(SNMP, 'Tcp', 'InReceives'), undefined);
  assert.equal(snmpCounter(SNMP, 'TcpExt', 'OutRsts'), undefined);
  assert.equal(snmpCounter(SNMP, 'Tcp', 'Tcp:'), undefined);
});

test('resetsSentLine: RSTs per connection, median over the rounds, and each round\'s count', () => {
  const sent = (connections: number, resetsSent: number): Sample => ({ ...storm(connections), resetsSent });
  const line = resetsSentLine(new Map([
    ['untraced', [sent(100, 100), sent(200, 201), sent(100, 150)]],
    ['life', [storm(100)]],
  ]));
  assert.match(line, /: untraced 1\.00 \(100\/201\/150\); life - \(-\)$/);
});

test('rowsWithoutResetPrograms: the traced rows that loaded none of the reset programs', () => {
  const results = new Map([
    ['untraced', [storm(100)]],
    ['life', [storm(100, [{ name: 'on_set_state', runs: 600, ns: 1 }, { name: 'on_receive_reset', runs: 0, ns: 0 }])]],
    ['hist', [storm(100, [{ name: 'on_set_state', runs: 600, ns: 1 }])]],
  ]);
  assert.deepEqual(rowsWithoutResetPrograms(results), ['hist']);
});
