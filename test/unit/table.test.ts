import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Column, renderTable } from '../../src/format/table';
import { thousands } from '../../src/units';

interface Row { name: string; count: number }

const COLUMNS: Column<Row>[] = [
  { header: 'NAME', value: (r) => r.name },
  { header: 'N', value: (r) => String(r.count), align: 'right' },
];

test('column widths come from the widest value, left and right aligned', () => {
  const rows = [{ name: 'alpha', count: 5 }, { name: 'b', count: 1234 }];
  assert.deepEqual(renderTable(COLUMNS, rows), [
    'NAME      N',
    'alpha     5',
    'b      1234',
  ]);
});

test('a header wider than its values sets the width', () => {
  const columns: Column<Row>[] = [
    { header: 'COMMAND', value: (r) => r.name },
    { header: 'TOTAL', value: (r) => String(r.count), align: 'right' },
  ];
  assert.deepEqual(renderTable(columns, [{ name: 'ab', count: 7 }]), [
    'COMMAND  TOTAL',
    'ab           7',
  ]);
});

test('indent prefixes every line and trailing spaces are trimmed', () => {
  const columns: Column<Row>[] = [
    { header: 'N', value: (r) => String(r.count), align: 'right' },
    { header: 'NAME', value: (r) => r.name },
  ];
  assert.deepEqual(renderTable(columns, [{ name: 'x', count: 10 }, { name: 'longer', count: 2 }], '  '), [
    '   N  NAME',
    '  10  x',
    '   2  longer',
  ]);
});

test('no rows: the header alone', () => {
  assert.deepEqual(renderTable(COLUMNS, [], '> '), ['> NAME  N']);
});

test('thousands groups digits and rounds', () => {
  assert.equal(thousands(0), '0');
  assert.equal(thousands(999), '999');
  assert.equal(thousands(1000), '1,000');
  assert.equal(thousands(12345), '12,345');
  assert.equal(thousands(1234567), '1,234,567');
  assert.equal(thousands(1234.5), '1,235');
  assert.equal(thousands(0.4), '0');
});
