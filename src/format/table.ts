/** Tables as data: each column says its header, how to read a row, and its
 *  alignment; widths come from the content, as ss computes them. */
export interface Column<Row> {
  header: string;
  value(row: Row): string;
  align?: 'left' | 'right';
}

/** Every cell as text, and each column's width (its header's or its widest cell's). */
function layout<Row>(columns: Column<Row>[], rows: Row[]): { cells: string[][]; pad: (values: string[]) => string[]; widths: number[] } {
  const cells = rows.map((row) => columns.map((c) => c.value(row)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i].length)));
  const pad = (values: string[]) =>
    values.map((v, i) => (columns[i].align === 'right' ? v.padStart(widths[i]) : v.padEnd(widths[i])));
  return { cells, pad, widths };
}

export function renderTable<Row>(columns: Column<Row>[], rows: Row[], indent = ''): string[] {
  const { cells, pad } = layout(columns, rows);
  const line = (values: string[]) => indent + pad(values).join('  ').trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)];
}

/** The same columns as a Markdown table (what the bench prints, to paste into the docs). */
export function renderMarkdownTable<Row>(columns: Column<Row>[], rows: Row[]): string[] {
  const { cells, pad, widths } = layout(columns, rows);
  const line = (values: string[]) => `| ${pad(values).join(' | ')} |`;
  return [line(columns.map((c) => c.header)), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)];
}
