import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStateName, stateName, TCP, TCP_STATES } from '../../src/kernel/states';

const ALL_STATES = TCP_STATES.map((_, i) => i).filter((i) => i > 0);

test('the state table follows include/net/tcp_states.h', () => {
  assert.equal(TCP_STATES.length, 14);
  assert.deepEqual(TCP, {
    ESTABLISHED: 1, SYN_SENT: 2, SYN_RECV: 3, FIN_WAIT1: 4, FIN_WAIT2: 5, TIME_WAIT: 6,
    CLOSE: 7, CLOSE_WAIT: 8, LAST_ACK: 9, LISTEN: 10, CLOSING: 11, NEW_SYN_RECV: 12,
  });
  for (const [name, number] of Object.entries(TCP)) assert.equal(stateName(number), name);
  assert.equal(stateName(13), 'BOUND_INACTIVE');
});

test('stateName -> parseStateName round-trips every state', () => {
  for (const state of ALL_STATES) {
    const name = stateName(state);
    assert.equal(parseStateName(name), state, name);
    assert.equal(parseStateName(name.toLowerCase()), state, name.toLowerCase());
    assert.equal(parseStateName(name.toLowerCase().replace(/_/g, '-')), state);
    assert.equal(parseStateName(`  ${name}\t`), state);
  }
});

test('unnamed state numbers print as STATE_n and do not parse back', () => {
  assert.equal(stateName(0), 'STATE_0');
  assert.equal(stateName(14), 'STATE_14');
  assert.equal(stateName(255), 'STATE_255');
  assert.equal(parseStateName('STATE_14'), undefined);
});

test('parseStateName rejects empty and unknown names', () => {
  for (const text of ['', ' ', 'FOO', 'CLOSEWAIT', 'close wait', '1']) assert.equal(parseStateName(text), undefined, JSON.stringify(text));
});
