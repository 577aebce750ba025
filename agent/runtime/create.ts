// Builds a runtime from agent.yaml: the node's plane client (from the plane's node-client
// factory, chosen by the section's `kind`), the hypervisor driver, the keys.
import { join } from 'node:path';
import type { NodeClientFactory, NodePlane } from '../../adapters/index.js';
import type { Logger } from '../../common/index.js';
import { CryptoPool, readPublicKey } from '../../pipeline/index.js';
import { createHypervisor } from '../hypervisor/index.js';
import { clientFor, machineConfig, seedFor, type AgentFileConfig } from './config.js';
import { AgentRuntime } from './runtime.js';

export function createNodePlane(c: AgentFileConfig, log: Logger, clients: readonly NodeClientFactory[]): Promise<NodePlane> {
  return clientFor(clients, c.plane).create(c.plane, { node: c.node, requestTimeoutMs: c.fetch.requestTimeoutS * 1000, logger: log });
}

export async function createAgent(c: AgentFileConfig, log: Logger, clients: readonly NodeClientFactory[]): Promise<AgentRuntime> {
  const trusted = await Promise.all(c.trust.map(readPublicKey));
  const hypervisor = createHypervisor(c.hypervisor.kind, { workDir: join(c.stateDir, 'vms'), accel: c.hypervisor.accel, log, bootDelayMs: c.hypervisor.simBootDelayMs });
  return new AgentRuntime({
    stateDir: c.stateDir,
    plane: await createNodePlane(c, log, clients),
    hypervisor,
    trusted,
    machine: machineConfig(c),
    seed: seedFor(c),
    rangesInFlight: c.fetch.rangesInFlight,
    wholeStreamAt: c.fetch.wholeStreamAt,
    batchMs: c.fetch.batchMs,
    ...(c.fetch.cryptoWorkers ? { cryptoPool: new CryptoPool(c.fetch.cryptoWorkers) } : {}),
    bootTimeoutMs: c.hypervisor.bootTimeoutS * 1000,
    logger: log,
  });
}
