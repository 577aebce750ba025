import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatValue, renderReport, type Sample } from '../../../reports/index.js';
import { formatPercent } from '../../../reports/format.js';
import { makeResults, REPORT_PLANES } from './fixtures.js';

/** Three repeats whose makespans differ only by rounding: 3.13, 3.13, 3.1300000000000003 s. */
function noisyRepeats(values: number[], metric = 'makespan', unit = 's'): { samples: Sample[]; metas: [] } {
  const base = makeResults({ planes: ['openstack'], nodes: [10], repeats: values.length, perNode: false, faults: false });
  const samples = base.samples.filter((s) => s.metric !== metric);
  values.forEach((value, repeat) => {
    samples.push({ metric, value, unit, labels: { ...base.samples[0].labels, repeat } });
  });
  return { samples, metas: [] };
}

async function markdown(input: { samples: Sample[]; metas: [] }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'edgeplane-format-'));
  const out = await renderReport(input, dir, { planes: REPORT_PLANES });
  return readFile(out.markdown, 'utf8');
}

const row = (md: string, label: string) => md.split('\n').find((l) => l.includes(`· ${label} |`) || l.startsWith(`| ${label} |`));

describe('report tables carry no floating-point noise', () => {
  it('identical repeats up to rounding show no spread', async () => {
    const md = await markdown(noisyRepeats([3.13, 3.13, 3.1300000000000003]));
    const makespan = row(md, 'makespan (last node running)');
    expect(makespan).toBeDefined();
    expect(makespan).toContain('3.13 s');
    expect(makespan).not.toContain('±');
    expect(makespan).not.toMatch(/\de[-+]?\d/);
  });

  it('a real spread is still shown, rounded', async () => {
    const md = await markdown(noisyRepeats([3.1, 3.2, 3.3]));
    expect(row(md, 'makespan (last node running)')).toContain('3.2 s ± 100 ms');
  });

  it('a ratio whose repeats differ by float noise alone shows no spread', async () => {
    const md = await markdown(noisyRepeats([0.1 + 0.2, 0.3, 0.3], 'origin_egress_ratio', 'ratio'));
    const r = row(md, 'origin egress ÷ N·S');
    expect(r).toContain('0.3×');
    expect(r).not.toContain('±');
  });

  it('no cell of a whole report is in exponent form', async () => {
    const md = await markdown(noisyRepeats([3.13, 3.13, 3.1300000000000003]));
    const cells = md
      .split('\n')
      .filter((l) => l.startsWith('|'))
      .flatMap((l) => l.split(' | '));
    for (const c of cells) expect(c).not.toMatch(/\d(\.\d+)?e[-+]?\d/);
  });
});

describe('formatValue', () => {
  it('prints float noise around zero as zero, never in exponent form', () => {
    const noise = 0.1 + 0.2 - 0.3; // 5.55e-17
    expect(formatValue(noise, 's')).toBe('0 s');
    expect(formatValue(noise, 'ratio')).toBe('0×');
    expect(formatValue(noise, 'count')).toBe('0');
    expect(formatValue(noise, 'B')).toBe('0 B');
    expect(formatValue(noise, 'percent')).toBe('0%');
    expect(formatValue(-noise, 'Gbit/s')).toBe('0 Gbit/s');
  });

  it('rounds to three significant digits for the unit, without exponents', () => {
    expect(formatValue(3.1300000000000003, 's')).toBe('3.13 s');
    expect(formatValue(0.000123456, 's')).toBe('123 µs');
    expect(formatValue(2.5e-8, 's')).toBe('25 ns');
    expect(formatValue(1234.5678, 'count')).toBe('1,235');
    expect(formatValue(12345.000000000002, 'count')).toBe('12,345');
    expect(formatValue(9.3333333, 'count')).toBe('9.33');
    expect(formatValue(0.30000000000000004, 'ratio')).toBe('0.3×');
    expect(formatValue(0.9999999999999999, 'bool')).toBe('yes');
    expect(formatValue(1.5e22, 'count')).not.toMatch(/e/);
    expect(formatValue(1.5e22, 'ratio')).not.toMatch(/e/);
    expect(formatValue(5 * 2 ** 50 * 1024 * 4, 'B')).not.toMatch(/e/);
  });
});

describe('formatPercent', () => {
  it('signs changes and never prints an exponent or a misleading 0 for a tiny nonzero change', () => {
    expect(formatPercent(0)).toBe('0%');
    expect(formatPercent(0.2)).toBe('+20%');
    expect(formatPercent(-0.025)).toBe('-2.5%');
    expect(formatPercent(2.2e-16)).toBe('+<0.001%');
    expect(formatPercent(Infinity)).toBe('+∞%');
  });
});
