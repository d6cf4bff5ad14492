import { describe, expect, it } from 'vitest';
import { ReportRefresher } from './report-refresher';

describe('ReportRefresher', () => {
  it('writes one at a time, coalesces requests made during a write, and warns once on failure', async () => {
    let active = 0;
    let maxActive = 0;
    let writes = 0;
    let release: () => void = () => {};
    const write = async (): Promise<void> => {
      active++;
      maxActive = Math.max(maxActive, active);
      writes++;
      await new Promise<void>((r) => (release = r));
      active--;
    };
    const r = new ReportRefresher('/x', () => {}, write);
    r.request();
    await Promise.resolve();
    r.request();
    r.request(); // coalesced with the previous one
    release();
    await new Promise((res) => setTimeout(res, 0));
    release();
    await r.idle();
    expect(writes).toBe(2);
    expect(maxActive).toBe(1);

    const warnings: string[] = [];
    const failing = new ReportRefresher('/x', (m) => warnings.push(m), () => Promise.reject(new Error('disk full')));
    failing.request();
    await failing.idle();
    failing.request();
    await failing.idle();
    expect(warnings).toEqual(['could not refresh report.html: disk full']);
  });
});
