// reports/: the results format, statistics, charts, report rendering and the CI gate.
export * from './sample.js';
export { MetaSchema, AssumptionSchema, MachineSchema, type Meta, type Assumption } from './meta.js';
export { readResults, type Results } from './read.js';
import type { Meta } from './meta.js';
import type { RenderedReport, ReportOptions } from './render.js';
import type { Sample } from './sample.js';

export type { RenderedReport, ReportOptions } from './render.js';
export { FALLBACK_COLOURS, type ReportPlane } from './planes.js';
export { quantile, median, mean, mannWhitneyU, minimumAttainableP, type MannWhitneyResult } from './stats.js';
export { runGate, DEFAULT_GATE_METRICS, type GateOptions, type GateResult, type GateCheck, type CheckStatus } from './gate.js';
export { gateMarkdown, gateJUnit } from './gate-format.js';
export { formatValue } from './format.js';
export { parseAgentEvents, deploymentFromEvents, recordsFromDeployments, type AgentEventLine, type Deployment, type DeploymentOptions } from './from-events.js';
export { RunRecords, OUTCOME, PHASE_INDEX } from './records.js';
export { runSamples, planeSamples, lowerBoundUs, bindingTerm, boundTermsUs, PER_NODE_DETAIL_MAX_NODES, type DeploymentRun, type BoundInputs, type FaultWindow, type RunSummary, type ProfileFacts } from './deployments.js';

/**
 * Renders the comparison report (see render.ts): index.html, report.md and charts/*.svg under
 * outDir. `options.planes` gives the planes' display order and colours (see ReportOptions).
 * Loaded on first use: the chart renderer pulls in d3 and linkedom, which the simulator and the
 * agent, also users of this folder, do not need.
 */
export async function renderReport(input: { samples: Sample[]; metas: Meta[] }, outDir: string, options?: ReportOptions): Promise<RenderedReport> {
  const { renderReport: render } = await import('./render.js');
  return render(input, outDir, options);
}
