import { parse } from 'npm:csv-parse@^5/sync';
import { stringify } from 'npm:csv-stringify@^6/sync';

export type Row = Record<string, unknown>;

export interface ParseOptions {
  /** rows as objects keyed by the header line (default), or as arrays */
  columns?: boolean;
  delimiter?: string;
  /** numbers and booleans as values (default true) */
  cast?: boolean;
}

function castValue(value: string): unknown {
  if (value === 'true' || value === 'false') return value === 'true';
  const n = Number(value);
  return value.trim() !== '' && Number.isFinite(n) ? n : value;
}

export function parseCsv(text: string, options: ParseOptions = {}): Row[] | unknown[][] {
  const cast = options.cast ?? true;
  return parse(text, {
    columns: options.columns ?? true,
    delimiter: options.delimiter ?? ',',
    skip_empty_lines: true,
    trim: true,
    bom: true,
    cast: cast ? (value: string) => castValue(value) : false,
  });
}

export async function readCsv(path: string, options: ParseOptions = {}): Promise<Row[] | unknown[][]> {
  return parseCsv(await Deno.readTextFile(path), options);
}

export function toCsv(
  rows: readonly Row[] | readonly unknown[][],
  { header = true }: { header?: boolean } = {},
): string {
  return stringify(rows as unknown[], { header: header && rows.length > 0 && !Array.isArray(rows[0]) });
}

export function groupBy(rows: readonly Row[], key: string): Record<string, Row[]> {
  const groups: Record<string, Row[]> = Object.create(null);
  for (const row of rows) (groups[String(row[key])] ??= []).push(row);
  return groups;
}

export function summarize(rows: readonly Row[], column: string) {
  const values = rows.map((r) => Number(r[column])).filter(Number.isFinite);
  const sum = values.reduce((a, b) => a + b, 0);
  return {
    count: values.length,
    sum,
    min: values.length ? Math.min(...values) : null,
    max: values.length ? Math.max(...values) : null,
    mean: values.length ? sum / values.length : null,
  };
}
