// reports/: the results format, statistics, charts, report rendering and the CI gate.
export * from './sample.js';
export { MetaSchema, AssumptionSchema, MachineSchema, type Meta, type Assumption } from './meta.js';
export { readResults, type Results } from './read.js';
export { renderReport, type RenderedReport } from './render.js';
export { quantile, median, mean, mannWhitneyU, minimumAttainableP, type MannWhitneyResult } from './stats.js';
export { runGate, DEFAULT_GATE_METRICS, type GateOptions, type GateResult, type GateCheck, type CheckStatus } from './gate.js';
export { gateMarkdown, gateJUnit } from './gate-format.js';
export { formatValue } from './format.js';
export { parseAgentEvents, deploymentFromEvents, latencyQuantiles, runSamplesFromDeployments, repeatSamples, type AgentEventLine, type Deployment, type DeploymentOptions, type RunOptions, type RunSummary as EventsRunSummary } from './from-events.js';
