/** Tables as data: each column says its header, how to read a row, and its
 *  alignment; widths come from the content, as ss computes them. */
export interface Column<Row> {
  header: string;
  value(row: Row): string;
  align?: 'left' | 'right';
}

export function renderTable<Row>(columns: Column<Row>[], rows: Row[], indent = ''): string[] {
  const cells = rows.map((row) => columns.map((c) => c.value(row)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i].length)));
  const line = (values: string[]) =>
    indent + values
      .map((v, i) => (columns[i].align === 'right' ? v.padStart(widths[i]) : v.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)];
}
