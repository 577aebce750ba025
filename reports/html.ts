// The self-contained HTML report: inline CSS and SVG, no scripts, no network fetches.
import type { Chart } from './charts/index.js';
import type { Table } from './tables.js';

export interface ReportSection {
  id: string;
  title: string;
  subtitle?: string;
  charts: Chart[];
  tables: Table[];
  /** e.g. the scenario's YAML text */
  details?: { summary: string; text: string };
}

export interface ReportDocument {
  title: string;
  summary: string[];
  sections: ReportSection[];
  appendix: Table[];
}

const CSS = `
:root { color-scheme: light; --ink: #1f2328; --muted: #59636e; --line: #d8dee4; --bg: #f6f8fa; --best: #dafbe1; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--ink); background: var(--bg); }
header { background: #24292f; color: #fff; padding: 20px 32px; }
header h1 { margin: 0 0 4px; font-size: 24px; font-weight: 600; }
header ul { margin: 6px 0 0; padding: 0; list-style: none; display: flex; flex-wrap: wrap; gap: 6px 24px; color: #d0d7de; font-size: 14px; }
nav { padding: 10px 32px; background: #fff; border-bottom: 1px solid var(--line); font-size: 14px; }
nav a { margin-right: 18px; color: #0969da; text-decoration: none; }
main { max-width: 1480px; margin: 0 auto; padding: 8px 32px 48px; }
section { margin-top: 28px; }
h2 { font-size: 20px; margin: 0 0 4px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 22px 0 8px; }
.subtitle { color: var(--muted); margin: 4px 0 12px; font-size: 14px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 16px; align-items: start; }
figure { margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 8px; }
figure.wide { grid-column: 1 / -1; }
figure svg { display: block; width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 13px; padding: 4px 6px 2px; }
.table-wrap { display: inline-block; max-width: 100%; overflow-x: auto; background: #fff; border: 1px solid var(--line); border-radius: 8px; }
table { border-collapse: collapse; min-width: 50%; font-size: 14px; font-variant-numeric: tabular-nums; }
th, td { padding: 6px 12px; text-align: left; border-bottom: 1px solid #eef1f4; vertical-align: top; }
thead th { background: #f6f8fa; font-weight: 600; border-bottom: 1px solid var(--line); white-space: nowrap; }
td.num { text-align: right; white-space: nowrap; }
th.num { text-align: right; }
tr.group td.grp { font-weight: 600; color: var(--muted); text-transform: uppercase; font-size: 12px; letter-spacing: .04em; padding-top: 12px; }
td.best { background: var(--best); font-weight: 600; }
td.best::before { content: "★ "; color: #1a7f37; }
.note { color: var(--muted); font-size: 13px; margin: 6px 2px 0; }
details { margin-top: 12px; }
summary { cursor: pointer; color: #0969da; }
pre { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px; overflow-x: auto; font-size: 13px; }
`;

export function renderHtml(doc: ReportDocument): string {
  const nav = [...doc.sections.map((s) => `<a href="#${s.id}">${esc(s.title)}</a>`), '<a href="#appendix">Complexity, assumptions, provenance</a>'];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(doc.title)}</title>
<style>${CSS}</style>
</head>
<body>
<header><h1>${esc(doc.title)}</h1><ul>${doc.summary.map((s) => `<li>${esc(s)}</li>`).join('')}</ul></header>
<nav>${nav.join('')}</nav>
<main>
${doc.sections.map(section).join('\n')}
<section id="appendix">
<h2>Complexity, assumptions and provenance</h2>
${doc.appendix.map(table).join('\n')}
</section>
</main>
</body>
</html>
`;
}

function section(s: ReportSection): string {
  const charts = s.charts.map((c) => `<figure id="${esc(c.id)}"${c.wide ? ' class="wide"' : ''} data-chart="${esc(c.id)}">${c.svg}<figcaption>${esc(c.caption)}</figcaption></figure>`).join('\n');
  const details = s.details ? `<details><summary>${esc(s.details.summary)}</summary><pre>${esc(s.details.text)}</pre></details>` : '';
  return `<section id="${esc(s.id)}">
<h2>${esc(s.title)}</h2>
${s.subtitle ? `<p class="subtitle">${esc(s.subtitle)}</p>` : ''}
<div class="charts">${charts}</div>
${s.tables.map(table).join('\n')}
${details}
</section>`;
}

function table(t: Table): string {
  const numeric = t.columns.map((_, i) => i > 0 && t.rows.length > 0 && t.rows.every((r) => isNumeric(r.cells[i - 1]?.text ?? '—')));
  const head = t.columns.map((c, i) => `<th${numeric[i] ? ' class="num"' : ''}>${esc(c)}</th>`).join('');
  const grouped = t.rows.some((r) => r.group);
  const body = t.rows
    .map((r) => {
      const groupRow = r.group ? `<tr class="group"><td class="grp" colspan="${t.columns.length}">${esc(r.group)}</td></tr>` : '';
      const cells = r.cells
        .map((c, i) => {
          const cls = [numeric[i + 1] ? 'num' : '', c.best ? 'best' : ''].filter(Boolean).join(' ');
          return `<td${cls ? ` class="${cls}"` : ''}>${esc(c.text)}</td>`;
        })
        .join('');
      return `${groupRow}<tr><th scope="row">${esc(r.label)}</th>${cells}</tr>`;
    })
    .join('\n');
  return `<h3 id="${esc(t.id)}">${esc(t.title)}</h3>
<div class="table-wrap"><table${grouped ? ' class="grouped"' : ''}><thead><tr>${head}</tr></thead><tbody>
${body || `<tr><td colspan="${t.columns.length}">—</td></tr>`}
</tbody></table></div>
${t.note ? `<p class="note">${esc(t.note)}</p>` : ''}`;
}

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A number with an optional unit (and ± spread), or a dash: right-aligned. */
function isNumeric(text: string): boolean {
  return text === '—' || text === 'yes' || text === 'no' || /^[-+−]?[\d.,]+(e[-+]?\d+)?( ?[a-zA-Zµ×%/]+)?( ± .+)?$/.test(text);
}
