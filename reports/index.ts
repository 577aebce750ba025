// reports/: the results format, statistics, charts, report rendering and the CI gate.
export * from './sample.js';
export { MetaSchema, AssumptionSchema, MachineSchema, type Meta, type Assumption } from './meta.js';
export { readResults, type Results } from './read.js';
export type { RenderedReport } from './render.js';
export { quantile, median, mean, mannWhitneyU, minimumAttainableP, type MannWhitneyResult } from './stats.js';
export { runGate, DEFAULT_GATE_METRICS, type GateOptions, type GateResult, type GateCheck, type CheckStatus } from './gate.js';
export { gateMarkdown, gateJUnit } from './gate-format.js';
export { formatValue } from './format.js';
export { parseAgentEvents, deploymentFromEvents, latencyQuantiles, runSamplesFromDeployments, repeatSamples, type AgentEventLine, type Deployment, type DeploymentOptions, type RunOptions, type RunSummary as EventsRunSummary } from './from-events.js';

/**
 * Renders the comparison report (see render.ts). Loaded on first use: the chart renderer pulls in
 * d3 and jsdom, which the simulator and the agent, also users of this folder, do not need.
 */
export async function renderReport(...args: Parameters<typeof import('./render.js').renderReport>): ReturnType<typeof import('./render.js').renderReport> {
  const { renderReport: render } = await import('./render.js');
  return render(...args);
}
