import { clip } from '../units';

/** Tables as data: each column says its header, how to read a row, and its
 *  alignment; widths come from the content, as ss computes them. */
export interface Column<Row> {
  /** Dropped first when the table is too wide for the terminal (renderFittedTable). */
  optional?: boolean;
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

/**
 * Prose broken into lines of at most `width` columns at spaces: the first
 * line starts with `first`, the rest with `rest` (a hanging indent). A word
 * longer than a line is clipped.
 */
export function wrap(text: string, width: number, first: string, rest: string): string[] {
  if (width <= 0) return [first + text];
  const lines: string[] = [];
  let line = first, empty = true;
  for (const word of text.split(' ')) {
    if (!empty && line.length + 1 + word.length > width) {
      lines.push(line);
      line = rest;
      empty = true;
    }
    line += (empty ? '' : ' ') + word;
    empty = false;
  }
  lines.push(line);
  return lines.map((l) => clip(l, width));
}

/**
 * A table that fits `width`: columns marked optional are dropped, last first,
 * until it does; what still does not fit is clipped.
 */
export function renderFittedTable<Row>(
  columns: Column<Row>[], rows: Row[], indent: string, width: number,
): string[] {
  let shown = columns;
  let lines = renderTable(shown, rows, indent);
  while (width > 0 && lines.some((l) => l.length > width) && shown.some((c) => c.optional)) {
    const drop = shown.map((c) => Boolean(c.optional)).lastIndexOf(true);
    shown = shown.filter((_, i) => i !== drop);
    lines = renderTable(shown, rows, indent);
  }
  return lines.map((l) => clip(l, width));
}
