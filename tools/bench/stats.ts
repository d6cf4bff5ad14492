/** Median of a non-empty list. */
export function median(xs: number[]): number {
  if (xs.length === 0) throw new Error('tools/bench/stats: median of an empty list');
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * CPU milliseconds (user + system) of this process since `start`. The machine is shared: wall time
 * counts the time other processes hold the cores, CPU time of a single-threaded wasm run does not.
 */
export function cpuMs(start?: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1000;
}

/** CPU milliseconds per call of a synchronous `fn`, repeated until at least `minMs` of CPU time. */
export function msPerCall(fn: () => void, minMs = 30): number {
  let calls = 0;
  const start = process.cpuUsage();
  let t = 0;
  do {
    fn();
    calls++;
    t = cpuMs(start);
  } while (t < minMs);
  return t / calls;
}

export function fmt(x: number, digits = 1): string {
  if (!Number.isFinite(x)) return '-';
  return x >= 1000 ? Math.round(x).toLocaleString('en-US') : x.toFixed(digits);
}

/** Plain-text table with aligned columns (also valid GitHub markdown). */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n');
}
