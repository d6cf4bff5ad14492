/** One metrics.csv row: a `metrics` event of a stage. */
export interface MetricsRow {
  stage: string;
  step: number;
  metrics: Record<string, number>;
}

/** Stable union: existing columns keep their order, new ones are appended in first-seen order. */
export function unionColumns(columns: readonly string[], metrics: Record<string, number>): string[] {
  const out = [...columns];
  for (const k of Object.keys(metrics)) if (!out.includes(k)) out.push(k);
  return out;
}

function csvCell(v: string): string {
  return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export function formatCsvHeader(columns: readonly string[]): string {
  return ['stage', 'step', ...columns].map(csvCell).join(',') + '\n';
}

/** Missing metrics are empty cells; numbers use JS shortest round-trip formatting. */
export function formatCsvRow(columns: readonly string[], row: MetricsRow): string {
  const cells = [csvCell(row.stage), String(row.step), ...columns.map((c) => (c in row.metrics ? String(row.metrics[c]) : ''))];
  return cells.join(',') + '\n';
}

export function formatCsv(columns: readonly string[], rows: readonly MetricsRow[]): string {
  return formatCsvHeader(columns) + rows.map((r) => formatCsvRow(columns, r)).join('');
}

/** Parse metrics.csv back (for reports and tests). Empty cells are dropped. */
export function parseCsv(text: string): MetricsRow[] {
  const lines = text.split('\n').filter((l) => l.length > 0);
  if (lines.length === 0) return [];
  const split = (line: string): string[] => {
    const cells: string[] = [];
    let cur = '';
    let quoted = false;
    for (let i = 0; i < line.length; i++) {
      const ch = line[i]!;
      if (quoted) {
        if (ch === '"' && line[i + 1] === '"') {
          cur += '"';
          i++;
        } else if (ch === '"') quoted = false;
        else cur += ch;
      } else if (ch === '"') quoted = true;
      else if (ch === ',') {
        cells.push(cur);
        cur = '';
      } else cur += ch;
    }
    cells.push(cur);
    return cells;
  };
  const header = split(lines[0]!);
  return lines.slice(1).map((line) => {
    const cells = split(line);
    const metrics: Record<string, number> = {};
    header.slice(2).forEach((h, i) => {
      const c = cells[i + 2];
      if (c !== undefined && c !== '') metrics[h] = Number(c);
    });
    return { stage: cells[0]!, step: Number(cells[1]), metrics };
  });
}
