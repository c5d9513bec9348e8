/** The bench's own arithmetic (scripts/): what it reads from bpf_stats and nsfill, and the tables it prints. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { programDeltas, programTable, ProgramRun, Sample } from '../../scripts/bench';

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
  const rows = programTable(results).slice(2).map((line) => line.split('|').slice(1, -1).map((cell) => cell.trim()));
  assert.deepEqual(rows, [
    ['life', 'on_set_state', '10.00', '250', '250'],
    ['life', 'on_set_state_nested', '10.00', '70', '70'],
    ['life', 'on_receive_reset', '0.00', '-', '0'],
    ['bpftrace', 'inet_sock_set_state', '10.00', '200', '200'],
  ]);
});
