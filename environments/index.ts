// environments/: where a rollout runs (sim, real, emulate), behind one interface, and the one
// path from a scenario to results lines (run.ts).
export * from './types.js';
export { runScenario, planeLabel, runLabels, type ScenarioRunOptions, type ScenarioResult, type PlaneResult } from './run.js';
export { simEnvironment, simBoundInputs, simulate, configureSimThreads, simThreadOptions, type SimThreadOptions } from './sim.js';
export { serveSimWorker } from './sim-worker.js';
export {
  realEnvironment,
  realScenario,
  scenarioNodes,
  writeLocalAgentConfig,
  agentConfigBody,
  defaultCliPath,
  LocalAgent,
  MAX_REAL_NODES,
  MAX_REAL_IMAGE_BYTES,
  type RealEnvironmentOptions,
  type RealHypervisor,
  type LocalAgentSettings,
  type AgentHosts,
  type AgentHostsRun,
  type RealAgent,
} from './real.js';
export { estimateRun, checkBudget, parseBudget, DEFAULT_BUDGET, type Budget, type RunEstimate } from './budget.js';
export { emulateEnvironment, emulateScenario, emulatedClients, MAX_EMULATED_NODES, type EmulateEnvironmentOptions } from './emulate/index.js';
export * from './ssh/index.js';
