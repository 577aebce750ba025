// The real agent runtime: executes the pure machine's actions with real I/O.
export { AgentRuntime, type AgentHalt, type AgentRuntimeOptions, type AgentSnapshot } from './runtime.js';
export { agentConfigSchemaFor, clientFor, loadAgentConfig, machineConfig, parseAgentConfig, seedFor, type AgentFileConfig, type PlaneSection } from './config.js';
export { DirectStage, journalPathFor, partPathFor, readJournal, type StageOutcome } from './direct-stage.js';
export { DIRECT_BLOCK, DirectWriter } from './direct-io.js';
export { StateStore, persistedStateSchema, type AcceptedManifest } from './state-store.js';
export { fetchChunks, type ChunkBatch, type FetchChunksOptions } from './fetcher.js';
export { reconcile, stagedFileName, type ReconcileReport } from './reconcile.js';
export { VmController } from './vm.js';
export { EventsLog, type EventLine } from './events-log.js';
export { createAgent, createNodePlane } from './create.js';
