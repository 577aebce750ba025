// Builds a runtime from agent.yaml: the node's plane client, the hypervisor driver, the keys.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NodePlane } from '../../adapters/index.js';
import { TestPlaneClient } from '../../control-test-plane/index.js';
import { InputError, type Logger } from '../../common/index.js';
import { OpenStackNodePlane, type NodeCredentials } from '../../control-openstack/index.js';
import { readPublicKey } from '../../pipeline/index.js';
import { createHypervisor } from '../hypervisor/index.js';
import { machineConfig, seedFor, type AgentFileConfig } from './config.js';
import { AgentRuntime } from './runtime.js';

export async function createNodePlane(c: AgentFileConfig, log: Logger): Promise<NodePlane> {
  const p = c.plane;
  switch (p.kind) {
    case 'test-plane': {
      const token = p.token ?? (await readFile(p.tokenFile!, 'utf8').catch(() => {
        throw new InputError(`cannot read the node token file ${p.tokenFile}`);
      })).trim();
      return new TestPlaneClient({ url: p.url, node: c.node, token, timeoutMs: c.fetch.requestTimeoutS * 1000, logger: log });
    }
    case 'openstack': {
      const cred = p.credentials;
      const secretOf = async (inline: string | undefined, file: string | undefined, what: string) =>
        inline ??
        (await readFile(file!, 'utf8').catch(() => {
          throw new InputError(`cannot read the node ${what} file ${file}`);
        })).trim();
      const credentials: NodeCredentials =
        cred.kind === 'password'
          ? { kind: 'password', userId: cred.userId, projectId: cred.projectId, password: await secretOf(cred.password, cred.passwordFile, 'password') }
          : { kind: 'applicationCredential', id: cred.id, secret: await secretOf(cred.secret, cred.secretFile, 'application credential secret') };
      return new OpenStackNodePlane(
        { authUrl: p.authUrl, projectId: p.projectId, credentials, reportCredentialId: p.reportCredentialId },
        // no retry argument: the node plane's transport defaults to NO_RETRY (the machine owns retries)
        { timeoutMs: c.fetch.requestTimeoutS * 1000, logger: log },
      );
    }
  }
}

export async function createAgent(c: AgentFileConfig, log: Logger): Promise<AgentRuntime> {
  const trusted = await Promise.all(c.trust.map(readPublicKey));
  const hypervisor = createHypervisor(c.hypervisor.kind, { workDir: join(c.stateDir, 'vms'), accel: c.hypervisor.accel, log, bootDelayMs: c.hypervisor.simBootDelayMs });
  return new AgentRuntime({
    stateDir: c.stateDir,
    plane: await createNodePlane(c, log),
    hypervisor,
    trusted,
    machine: machineConfig(c),
    seed: seedFor(c),
    rangesInFlight: c.fetch.rangesInFlight,
    batchMs: c.fetch.batchMs,
    bootTimeoutMs: c.hypervisor.bootTimeoutS * 1000,
    logger: log,
  });
}
