// environments/emulate/: `--env emulate`, the scenario's topology built for real with network
// namespaces and shaped links, real agents on every node (docs/emulate.md).
export { emulateEnvironment, emulateScenario, emulatedPlanes, MAX_EMULATED_NODES, MAX_EMULATED_IMAGE_BYTES, EMULATE_SERVICE_PORT, type EmulateEnvironmentOptions } from './environment.js';
export { planTopology, pathOneWayUs, shapingCommands, creationCommands, namespaceCommands, wanCut, type Topology, type EmulatedNode, type EmulatedSite, type ShapedEgress } from './topology.js';
export { planFaults, type FaultAction, type FaultPlan } from './faults.js';
export { cleanupStale, probeNetem, checkPrerequisites, listEmulationNamespaces, stateFile } from './netns.js';
export { Relay, ResponseCorrupter, relayConfigSchema, type RelayConfig, type RelayCounters } from './relay.js';
export { standInCalibration, calibratablePlanes, compareRuns, agreementMarkdown, type AgreementRow, type MeasuredCall } from './agreement.js';
