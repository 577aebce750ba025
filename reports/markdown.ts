// report.md: the same tables as the HTML, the charts as linked SVG files.
import type { ReportDocument } from './html.js';
import type { Table } from './tables.js';

export function renderMarkdown(doc: ReportDocument, chartPath: (id: string) => string): string {
  const out: string[] = [`# ${doc.title}`, '', ...doc.summary.map((s) => `- ${s}`), ''];
  for (const s of doc.sections) {
    out.push(`## ${s.title}`, '');
    if (s.subtitle) out.push(s.subtitle, '');
    for (const c of s.charts) out.push(`![${c.title}](${chartPath(c.id)})`, '', `*${c.caption}*`, '');
    for (const t of s.tables) out.push(...markdownTable(t));
    if (s.details) out.push(`<details><summary>${s.details.summary}</summary>`, '', '```yaml', s.details.text.trimEnd(), '```', '', '</details>', '');
  }
  out.push('## Complexity, assumptions and provenance', '');
  for (const t of doc.appendix) out.push(...markdownTable(t));
  return out.join('\n');
}

export function markdownTable(t: Table): string[] {
  const lines = [`### ${t.title}`, ''];
  lines.push(`| ${t.columns.map(cell).join(' | ')} |`, `|${t.columns.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`);
  for (const r of t.rows) {
    const label = r.group ? `**${cell(r.group)}** · ${cell(r.label)}` : cell(r.label);
    lines.push(`| ${label} | ${r.cells.map((c) => (c.best ? `**★ ${cell(c.text)}**` : cell(c.text))).join(' | ')} |`);
  }
  if (t.rows.length === 0) lines.push(`| — |${' |'.repeat(t.columns.length - 1)}`);
  lines.push('');
  if (t.note) lines.push(`*${t.note}*`, '');
  return lines;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}
