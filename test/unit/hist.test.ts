import { test } from 'node:test';
import assert from 'node:assert/strict';
import { histogramJson, KeyedHistograms, Log2Histogram, renderLog2Histogram } from '../../src/model/hist';

function histOf(...values: number[]): Log2Histogram {
  const h = new Log2Histogram();
  for (const v of values) h.add(v);
  return h;
}

/** The count in the bucket whose range starts at low (0 when absent). */
function countAt(h: Log2Histogram, low: number): number {
  return h.buckets().find((b) => b.low === low)?.count ?? 0;
}

test('bucket boundaries follow bcc: 0,1 | 2,3 | 4..7 | ...', () => {
  assert.deepEqual(histOf(0, 1, 2, 3, 4, 5, 6, 7).buckets(), [
    { low: 0, high: 1, count: 2 },
    { low: 2, high: 3, count: 2 },
    { low: 4, high: 7, count: 4 },
  ]);
  assert.deepEqual(histOf(8).buckets().at(-1), { low: 8, high: 15, count: 1 });
});

test('1023 and 1024 fall either side of a boundary', () => {
  assert.deepEqual(histOf(1023).buckets().at(-1), { low: 512, high: 1023, count: 1 });
  assert.deepEqual(histOf(1024).buckets().at(-1), { low: 1024, high: 2047, count: 1 });
  assert.equal(histOf(1023).buckets().length, 10);
  assert.equal(histOf(1024).buckets().length, 11);
});

test('values past 32 bits land in the right bucket', () => {
  const h = histOf(2 ** 40);
  assert.equal(h.buckets().length, 41);
  assert.deepEqual(h.buckets()[40], { low: 2 ** 40, high: 2 ** 41 - 1, count: 1 });
  assert.deepEqual(histOf(2 ** 40 - 1).buckets().at(-1), { low: 2 ** 39, high: 2 ** 40 - 1, count: 1 });
  assert.deepEqual(histOf(2 ** 32 - 1).buckets().at(-1), { low: 2 ** 31, high: 2 ** 32 - 1, count: 1 });
  assert.deepEqual(histOf(2 ** 32).buckets().at(-1), { low: 2 ** 32, high: 2 ** 33 - 1, count: 1 });
  assert.equal(histOf(2 ** 53 - 1).buckets().length, 53);
  assert.equal(histOf(2 ** 53).buckets().length, 54);
});

test('fractions are floored, also at a boundary', () => {
  const h = histOf(1.99, 3.999, 4.5);
  assert.deepEqual(h.buckets(), [
    { low: 0, high: 1, count: 1 },
    { low: 2, high: 3, count: 1 },
    { low: 4, high: 7, count: 1 },
  ]);
  assert.equal(h.sum, 1 + 3 + 4);
});

test('negative values count as 0, in bucket 0', () => {
  const h = histOf(-1, -0.5, -1e9);
  assert.deepEqual(h.buckets(), [{ low: 0, high: 1, count: 3 }]);
  assert.equal(h.count, 3);
  assert.equal(h.sum, 0);
});

test('non-finite values are not counted', () => {
  const h = histOf(NaN, Infinity, -Infinity, 5);
  assert.equal(h.count, 1);
  assert.equal(h.sum, 5);
  assert.deepEqual(h.buckets().at(-1), { low: 4, high: 7, count: 1 });
});

test('count and sum', () => {
  const h = new Log2Histogram();
  assert.equal(h.count, 0);
  assert.equal(h.sum, 0);
  h.add(10);
  h.add(20);
  h.add(1000);
  assert.equal(h.count, 3);
  assert.equal(h.sum, 1030);
});

test('buckets() stops at the last non-empty bucket, keeps empty ones before it', () => {
  const h = histOf(1, 20);
  assert.deepEqual(h.buckets(), [
    { low: 0, high: 1, count: 1 },
    { low: 2, high: 3, count: 0 },
    { low: 4, high: 7, count: 0 },
    { low: 8, high: 15, count: 0 },
    { low: 16, high: 31, count: 1 },
  ]);
});

test('buckets() of an empty histogram is empty', () => {
  assert.deepEqual(new Log2Histogram().buckets(), []);
});

test('merge adds counts, count and sum; the other is unchanged', () => {
  const a = histOf(1, 5, 5);
  const b = histOf(5, 100);
  a.merge(b);
  assert.equal(a.count, 5);
  assert.equal(a.sum, 116);
  assert.equal(countAt(a, 0), 1);
  assert.equal(countAt(a, 4), 3);
  assert.equal(countAt(a, 64), 1);
  assert.equal(a.buckets().length, 7);
  assert.equal(b.count, 2);
  assert.equal(b.sum, 105);
  assert.deepEqual(b.buckets().map((x) => x.count), [0, 0, 1, 0, 0, 0, 1]);
});

test('merging an empty histogram changes nothing', () => {
  const a = histOf(3);
  a.merge(new Log2Histogram());
  assert.deepEqual(a.buckets(), [{ low: 0, high: 1, count: 0 }, { low: 2, high: 3, count: 1 }]);
  assert.equal(a.count, 1);
  assert.equal(a.sum, 3);
});

test('reset empties the histogram, which can be used again', () => {
  const h = histOf(1, 2 ** 40);
  h.reset();
  assert.equal(h.count, 0);
  assert.equal(h.sum, 0);
  assert.deepEqual(h.buckets(), []);
  assert.equal(h.percentile(50), null);
  h.add(6);
  assert.deepEqual(h.buckets().at(-1), { low: 4, high: 7, count: 1 });
  assert.equal(h.buckets().length, 3);
});

test('percentile is the upper bound of the bucket holding it', () => {
  // 50 x 1 (bucket 0..1), 49 x 100 (64..127), 1 x 5000 (4096..8191)
  const h = new Log2Histogram();
  for (let i = 0; i < 50; i++) h.add(1);
  for (let i = 0; i < 49; i++) h.add(100);
  h.add(5000);
  assert.equal(h.percentile(1), 1);
  assert.equal(h.percentile(50), 1);
  assert.equal(h.percentile(50.5), 127);
  assert.equal(h.percentile(51), 127);
  assert.equal(h.percentile(99), 127);
  assert.equal(h.percentile(99.5), 8191);
  assert.equal(h.percentile(100), 8191);
});

test('percentile ranks are exact where p / 100 is not', () => {
  // 0.07 * 100 is 7.000000000000001: rounded up, the rank would be 8, not 7.
  const h = new Log2Histogram();
  for (let i = 0; i < 7; i++) h.add(2);
  for (let i = 0; i < 93; i++) h.add(1000);
  assert.equal(h.percentile(7), 3);
  assert.equal(h.percentile(7.1), 1023);
});

test('percentile of an empty histogram is null; p outside (0, 100] throws', () => {
  assert.equal(new Log2Histogram().percentile(50), null);
  const h = histOf(1);
  assert.throws(() => h.percentile(0), RangeError);
  assert.throws(() => h.percentile(-5), RangeError);
  assert.throws(() => h.percentile(100.1), RangeError);
  assert.throws(() => h.percentile(NaN), RangeError);
});

test('renders like bcc print_log2_hist', () => {
  const h = histOf(2, 3, 2, 3, 4, 5, 6, 7, 4, 5, 6, 7, 4, 7);
  assert.deepEqual(renderLog2Histogram(h, 'usecs'), [
    '     usecs               : count    distribution',
    '         0 -> 1          : 0        |                                        |',
    '         2 -> 3          : 4        |****************                        |',
    '         4 -> 7          : 10       |****************************************|',
  ]);
});

test('stars are count * width / max, rounded down', () => {
  const h = new Log2Histogram();
  const add = (value: number, times: number) => { for (let i = 0; i < times; i++) h.add(value); };
  add(0, 1);
  add(2, 3);
  add(4, 7);
  add(16, 2);
  assert.deepEqual(renderLog2Histogram(h, 'msecs', 10), [
    '     msecs               : count    distribution',
    '         0 -> 1          : 1        |*         |',
    '         2 -> 3          : 3        |****      |',
    '         4 -> 7          : 7        |**********|',
    '         8 -> 15         : 0        |          |',
    '        16 -> 31         : 2        |**        |',
  ]);
});

test('a high bound of 10 digits keeps the narrow layout', () => {
  const lines = renderLog2Histogram(histOf(2 ** 33 - 1), 'nsecs', 4);
  assert.equal(lines.length, 34);
  assert.equal(lines[0], '     nsecs               : count    distribution');
  assert.equal(lines[33], '4294967296 -> 8589934591 : 1        |****|');
});

test('bounds past 10 digits widen the columns to 20', () => {
  const lines = renderLog2Histogram(histOf(1, 2 ** 33), 'nsecs');
  assert.equal(lines.length, 35);
  assert.deepEqual(lines.slice(0, 3), [
    '               nsecs                         : count    distribution',
    '                   0 -> 1                    : 1        |****************************************|',
    '                   2 -> 3                    : 0        |                                        |',
  ]);
  assert.deepEqual(lines.slice(-2), [
    '          4294967296 -> 8589934591           : 0        |                                        |',
    '          8589934592 -> 17179869183          : 1        |****************************************|',
  ]);
});

test('bounds past 2^53 print exactly', () => {
  const h = histOf(2, 2 ** 60, 2 ** 60, 2 ** 60);
  const lines = renderLog2Histogram(h, 'nsecs', 8);
  assert.equal(lines.length, 62);
  assert.deepEqual(lines.slice(0, 3), [
    '               nsecs                         : count    distribution',
    '                   0 -> 1                    : 0        |        |',
    '                   2 -> 3                    : 1        |**      |',
  ]);
  assert.deepEqual(lines.slice(-2), [
    '  576460752303423488 -> 1152921504606846975  : 0        |        |',
    ' 1152921504606846976 -> 2305843009213693951  : 3        |********|',
  ]);
});

test('an empty histogram renders one line saying so', () => {
  assert.deepEqual(renderLog2Histogram(new Log2Histogram(), 'usecs'), ['     (no samples)']);
});

test('histogramJson gives numbers, bucket 0 up to the last used', () => {
  const json = histogramJson(histOf(0, 3, 3, 9), 'usecs');
  assert.deepEqual(json, {
    unit: 'usecs',
    count: 4,
    sum: 15,
    buckets: [
      { low: 0, high: 1, count: 1 },
      { low: 2, high: 3, count: 2 },
      { low: 4, high: 7, count: 0 },
      { low: 8, high: 15, count: 1 },
    ],
  });
  assert.equal(JSON.stringify(histogramJson(new Log2Histogram(), 'ms')), '{"unit":"ms","count":0,"sum":0,"buckets":[]}');
});

test('KeyedHistograms: one histogram per key, busiest first, ties by key', () => {
  const k = new KeyedHistograms();
  k.add('pid 2 b', 1);
  k.add('10.0.0.5:8080', 100);
  k.add('pid 2 b', 2);
  k.add('pid 1 a', 3);
  k.add('pid 1 a', 4);
  k.add('10.0.0.5:8080', 5);
  k.add('zeta', 6);
  assert.equal(k.size, 4);
  const entries = k.entries();
  assert.deepEqual(entries.map(([key, h]) => [key, h.count]), [
    ['10.0.0.5:8080', 2],
    ['pid 1 a', 2],
    ['pid 2 b', 2],
    ['zeta', 1],
  ]);
  assert.equal(entries[0][1].sum, 105);
  assert.equal(entries[1][1].sum, 7);
});

test('KeyedHistograms: keys past maxKeys are counted under "(other)"', () => {
  const k = new KeyedHistograms(2);
  k.add('a', 1);
  k.add('b', 10);
  k.add('c', 100);
  k.add('d', 1000);
  k.add('c', 100);
  k.add('a', 2); // a known key keeps its own histogram when full
  assert.equal(k.size, 3);
  assert.deepEqual(k.entries().map(([key, h]) => [key, h.count, h.sum]), [
    ['(other)', 3, 1200],
    ['a', 2, 3],
    ['b', 1, 10],
  ]);
});

test('KeyedHistograms: default bound is 1000 keys', () => {
  const k = new KeyedHistograms();
  for (let i = 0; i < 1005; i++) k.add(`key ${i}`, i);
  assert.equal(k.size, 1001);
  const other = k.entries().find(([key]) => key === '(other)');
  assert.ok(other);
  assert.equal(other[1].count, 5);
  assert.equal(other[1].sum, 1000 + 1001 + 1002 + 1003 + 1004);
  assert.equal(k.entries()[0][0], '(other)');
});

test('KeyedHistograms: reset drops every key and frees the bound', () => {
  const k = new KeyedHistograms(1);
  k.add('a', 1);
  k.add('b', 1);
  assert.equal(k.size, 2);
  k.reset();
  assert.equal(k.size, 0);
  assert.deepEqual(k.entries(), []);
  k.add('b', 7);
  assert.deepEqual(k.entries().map(([key, h]) => [key, h.count]), [['b', 1]]);
});

test('KeyedHistograms: maxKeys must be a non-negative integer', () => {
  assert.throws(() => new KeyedHistograms(-1), RangeError);
  assert.throws(() => new KeyedHistograms(1.5), RangeError);
  const none = new KeyedHistograms(0);
  none.add('a', 1);
  assert.deepEqual(none.entries().map(([key]) => key), ['(other)']);
});

test('addBuckets takes counts bucketed the same way (the kernel\'s) as if each value were added', () => {
  const added = new Log2Histogram();
  for (const v of [0, 1, 5, 6, 1000]) added.add(v);
  const counted = new Log2Histogram();
  const counts = new Array(64).fill(0);
  counts[0] = 2; counts[2] = 2; counts[9] = 1;
  counted.addBuckets(counts, 1012);
  assert.deepEqual(histogramJson(counted, 'usecs'), histogramJson(added, 'usecs'));
});
