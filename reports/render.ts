// renderReport: results in, index.html + report.md + charts/*.svg out.
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InputError } from '../common/index.js';
import { scenarioCharts } from './charts/index.js';
import { renderHtml, type ReportDocument, type ReportSection } from './html.js';
import { renderMarkdown } from './markdown.js';
import type { Meta } from './meta.js';
import { buildModel, type ReportModel } from './model.js';
import type { ReportPlane } from './planes.js';
import type { Sample } from './sample.js';
import { assumptionsTable, comparisonTable, complexityTable, provenanceTable } from './tables.js';

export interface RenderedReport {
  html: string;
  markdown: string;
  charts: string[];
}

export interface ReportOptions {
  /**
   * The planes in display order, with their colours: series, columns and complexity rows follow
   * this order; planes in the results but not in the list come after, in the order the results
   * first name them; planes without a colour get an unused one of the Okabe–Ito palette. Default:
   * every plane in first-seen order, colours from that palette.
   */
  planes?: readonly ReportPlane[];
}

/** Writes index.html, report.md and charts/*.svg under outDir; returns their paths. */
export async function renderReport(input: { samples: Sample[]; metas: Meta[] }, outDir: string, options: ReportOptions = {}): Promise<RenderedReport> {
  if (input.samples.length === 0) throw new InputError('no samples to report: the results are empty');
  const model = buildModel(input.samples, input.metas, options.planes);
  const doc = buildDocument(model);
  const chartDir = join(outDir, 'charts');
  await mkdir(chartDir, { recursive: true });
  const charts: string[] = [];
  for (const s of doc.sections) {
    for (const c of s.charts) {
      const path = join(chartDir, `${c.id}.svg`);
      await writeFile(path, `<?xml version="1.0" encoding="UTF-8"?>\n${c.svg}\n`);
      charts.push(resolve(path));
    }
  }
  const html = join(outDir, 'index.html');
  const markdown = join(outDir, 'report.md');
  await writeFile(html, renderHtml(doc));
  await writeFile(
    markdown,
    renderMarkdown(doc, (id) => `charts/${id}.svg`),
  );
  return { html: resolve(html), markdown: resolve(markdown), charts };
}

function buildDocument(model: ReportModel): ReportDocument {
  const sections: ReportSection[] = model.scenarios.map((sc, i) => {
    const meta = model.metas.find((m) => m.scenario.name === sc.name && m.scenario.text);
    const envs = [...new Set(sc.series.map((d) => d.series.env))];
    const repeats = Math.max(0, ...sc.series.map((d) => d.runs.get(sc.mainNodes)?.repeats.length ?? 0));
    return {
      id: `scenario-${i + 1}`,
      title: `Scenario: ${sc.name}`,
      subtitle: [
        `${sc.series.length} series`,
        `fleet sizes ${sc.fleetSizes.map((n) => n.toLocaleString('en-US')).join(', ')} nodes`,
        `environment ${envs.join(', ')}`,
        `${repeats} repeat${repeats === 1 ? '' : 's'}`,
      ].join(' · '),
      charts: scenarioCharts(sc, i),
      tables: [comparisonTable(sc, model, `comparison-${i + 1}`)],
      details: meta?.scenario.text ? { summary: 'Scenario definition (YAML)', text: meta.scenario.text } : undefined,
    };
  });
  const versions = [...new Set(model.metas.map((m) => m.version))];
  return {
    title: 'edgeplane comparison report',
    summary: [`scenarios: ${model.scenarios.map((s) => s.name).join(', ') || '—'}`, `planes: ${model.planes.map((p) => p.name).join(', ')}`, `edgeplane ${versions.length ? versions.join(', ') : 'version not recorded'}`],
    sections,
    appendix: [complexityTable(model), assumptionsTable(model.metas), provenanceTable(model)],
  };
}
