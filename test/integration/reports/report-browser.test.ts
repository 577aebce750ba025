// Opens a rendered report in real headless Chromium (Debian's, driven by playwright-core): every
// chart must have drawn data, nothing may log an error or reach the network, and a screenshot is kept.
// Needs the `chromium` package (scripts/install-test-deps.sh): fails, never skips, without it.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { renderReport } from '../../../reports/index.js';
import { makeResults } from '../../unit/reports/fixtures.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const OUT = resolve('out/test-report');

describe('report in a real browser', () => {
  it('renders every chart with data, without console errors or network fetches', async () => {
    // a missing browser is a failure, not a skip
    expect(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM} (apt-get install chromium)`).toBe(true);
    const results = makeResults({ nodes: [100, 400, 1600], repeats: 1 });
    await rm(OUT, { recursive: true, force: true });
    await mkdir(OUT, { recursive: true });
    const report = await renderReport(results, OUT);

    const profile = await mkdtemp(join(tmpdir(), 'edgeplane-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: { width: 1440, height: 900 },
    });
    try {
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`console: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('request', (r) => {
        if (!r.url().startsWith('file:')) problems.push(`network fetch: ${r.url()}`);
      });
      await page.goto(pathToFileURL(report.html).href, { waitUntil: 'load' });

      const charts = await page.$$eval('figure[data-chart] svg', (svgs) =>
        svgs.map((svg) => {
          const box = svg.getBoundingClientRect();
          const marks = [...svg.querySelectorAll('.data')];
          const drawn = marks.filter((m) => {
            const b = (m as SVGGraphicsElement).getBBox();
            const d = m.getAttribute('d');
            return b.width + b.height > 0 && (m.tagName !== 'path' || (d !== null && d.length > 10 && !d.includes('NaN')));
          });
          return { id: svg.closest('figure')!.id, width: box.width, height: box.height, marks: marks.length, drawn: drawn.length };
        }),
      );
      expect(charts.map((c) => c.id.replace(/^\d+-default-/, ''))).toEqual(['latency-cdf', 'phases', 'bounds', 'scaling', 'timeline']);
      for (const c of charts) {
        expect(c.width, c.id).toBeGreaterThan(400);
        expect(c.height, c.id).toBeGreaterThan(150);
        expect(c.marks, c.id).toBeGreaterThan(0);
        expect(c.drawn, c.id).toBe(c.marks);
      }
      // tables rendered, best values marked
      expect(await page.locator('td.best').count()).toBeGreaterThan(5);
      await page.screenshot({ path: join(OUT, 'screenshot.png'), fullPage: true });
      expect(problems).toEqual([]);
    } finally {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    }
  });
});
