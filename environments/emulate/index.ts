// environments/emulate/: `--env emulate`, the scenario's topology built for real with network
// namespaces and shaped links, real agents on every node (docs/emulate.md).
export {
  emulateEnvironment,
  emulateScenario,
  emulatedClients,
  emulatedPlanes,
  MAX_EMULATED_NODES,
  SOLO_FLEET_MAX,
  DEFAULT_AGENTS_PER_HOST,
  MAX_EMULATED_IMAGE_BYTES,
  EMULATE_SERVICE_PORT,
  type EmulateEnvironmentOptions,
} from './environment.js';
export {
  planTopology,
  pathOneWayUs,
  shapingCommands,
  creationCommands,
  namespaceCommands,
  rootCommands,
  viaRouter,
  ORIGIN_HOST_IP,
  sysctlWrites,
  hostNamespace,
  wanCut,
  type Topology,
  type EmulatedNode,
  type EmulatedSite,
  type ShapedEgress,
  type AgentHost,
  type Hosting,
} from './topology.js';
export { EventsTail } from './events-tail.js';
export { planFaults, type FaultAction, type FaultPlan } from './faults.js';
export { cleanupStale, probeNetem, checkPrerequisites, listEmulationNamespaces, stateFile } from './netns.js';
export { Relay, ResponseCorrupter, relayConfigSchema, type RelayConfig, type RelayCounters } from './relay.js';
export { standInCalibration, calibratablePlanes, compareRuns, agreementMarkdown, type AgreementRow, type MeasuredCall } from './agreement.js';
export { namespaceLauncher, processCpuMs, processMemory, type AgentLauncher, type AgentProcess, type ProcessMemory } from './processes.js';
export { NodeSideProcesses } from './node-side.js';
export { bootDelayMs } from './boot.js';
export { sshdConfig, makeKeys, SSHD, type SshKeys } from './sshd.js';
