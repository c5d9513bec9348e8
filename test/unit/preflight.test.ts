import { test } from 'node:test';
import assert from 'node:assert/strict';
import { missingCapabilities } from '../../src/kernel/preflight';

const CAP = { DAC_OVERRIDE: 1, DAC_READ_SEARCH: 2, NET_ADMIN: 12, SYS_ADMIN: 21, PERFMON: 38, BPF: 39 };
const caps = (...names: (keyof typeof CAP)[]): bigint => names.reduce((set, n) => set | (1n << BigInt(CAP[n])), 0n);

test('no capabilities: CAP_BPF and CAP_PERFMON, and CAP_DAC_READ_SEARCH when tracefs is closed to this user', () => {
  assert.deepEqual(missingCapabilities(0n, false), ['CAP_BPF', 'CAP_PERFMON', 'CAP_DAC_READ_SEARCH']);
  assert.deepEqual(missingCapabilities(0n, true), ['CAP_BPF', 'CAP_PERFMON']);
});

test('CAP_BPF and CAP_PERFMON are enough where tracefs is readable; CAP_NET_ADMIN is not asked for', () => {
  assert.deepEqual(missingCapabilities(caps('BPF', 'PERFMON'), true), []);
  assert.deepEqual(missingCapabilities(caps('BPF', 'PERFMON', 'NET_ADMIN'), false), ['CAP_DAC_READ_SEARCH']);
  assert.deepEqual(missingCapabilities(caps('BPF', 'PERFMON', 'DAC_READ_SEARCH'), false), []);
  assert.deepEqual(missingCapabilities(caps('BPF', 'PERFMON', 'DAC_OVERRIDE'), false), []);
  assert.deepEqual(missingCapabilities(caps('PERFMON', 'DAC_READ_SEARCH'), false), ['CAP_BPF']);
});

test('CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON, not for reading tracefs', () => {
  assert.deepEqual(missingCapabilities(caps('SYS_ADMIN'), true), []);
  assert.deepEqual(missingCapabilities(caps('SYS_ADMIN'), false), ['CAP_DAC_READ_SEARCH']);
});
