import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assumedMissing, belowFloor, KERNEL_FLOOR, limitsOf, OPTIONAL_FEATURES } from '../../src/kernel/features';

test('the kernel floor: releases below 5.11 are refused, others pass, nonsense is not guessed at', () => {
  assert.deepEqual(KERNEL_FLOOR, { major: 5, minor: 11 });
  for (const [release, below] of [
    ['4.19.0-27-amd64', true], ['5.4.0-150-generic', true], ['5.8.18', true], ['5.10.0-30-cloud-amd64', true], ['5.11.0', false], ['5.15.0-100-generic', false],
    ['6.1.0-18-amd64', false], ['6.18.44-fc-v1147', false], ['10.0', false], ['weird', null],
  ] as const) assert.equal(belowFloor(release), below, release);
});

test('limits: one line per missing feature, naming the version and what is lost; none when nothing was skipped', () => {
  assert.deepEqual(limitsOf([], [], '6.1.0'), []);
  assert.deepEqual(limitsOf(['on_send', 'on_recv'], [], '6.1.0'), [
    `this kernel (6.1.0) lacks the sock_send_length/sock_recv_length tracepoints (Linux 6.3+): ${OPTIONAL_FEATURES[0].without}`,
  ]);
  assert.match(limitsOf(['on_send'], ['btf_trace_sock_send_length'], '6.18.0')[0], /^this kernel \(6\.18\.0\) is taken to lack \(TCPTRACE_ASSUME_MISSING\) the sock_send_length/);
});

test('TCPTRACE_ASSUME_MISSING: a comma list of BTF type names', () => {
  assert.deepEqual(assumedMissing({}), []);
  assert.deepEqual(assumedMissing({ TCPTRACE_ASSUME_MISSING: ' btf_trace_sock_send_length, x ,' }), ['btf_trace_sock_send_length', 'x']);
});
