// The agent's configuration file (agent.yaml), validated with zod; relative paths resolve against
// the file's directory.
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { NodeClientFactory } from '../../adapters/index.js';
import { INPUT_LIMITS, InputError, readInputText } from '../../common/index.js';
import { HYPERVISOR_KINDS } from '../hypervisor/index.js';
import { DEFAULT_AGENT_CONFIG, type AgentConfig } from '../machine/index.js';

const seconds = z.number().positive().max(86_400);

/** A real agent stops after this many refused logins in a row (the simulator's machine never does). */
export const DEFAULT_MAX_AUTH_FAILURES = 5;

/** The node's plane section comes from the plane's node client (its descriptor); the rest is the agent's. */
export function agentConfigSchemaFor(clients: readonly NodeClientFactory[]) {
  if (clients.length === 0) throw new Error('an agent configuration needs at least one plane kind');
  // each client's section is a strict object with a literal `kind`: a discriminated union of them
  const sections = clients.map((c) => c.configSchema) as unknown as [z.ZodObject<{ kind: z.ZodLiteral<string> }>, ...z.ZodObject<{ kind: z.ZodLiteral<string> }>[]];
  const plane = z.discriminatedUnion('kind', sections);
  return z.strictObject({
    node: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'letters, digits, ".", "_" and "-"'),
    /** state.json, the chunk store, staged images, events.ndjson and agent.log live here */
    stateDir: z.string().min(1),
    plane,
    /** PEM files of the publisher keys whose manifests this node accepts */
    trust: z.array(z.string().min(1)).min(1),
    hypervisor: z
      .strictObject({
        kind: z.enum(HYPERVISOR_KINDS).default('qemu'),
        accel: z.enum(['auto', 'kvm', 'tcg']).default('auto'),
        bootTimeoutS: seconds.default(180),
        /** sim only: time until the fake boot marker */
        simBootDelayMs: z.number().int().nonnegative().max(60_000).default(50),
      })
      .prefault({}),
    fetch: z
      .strictObject({
        rangesInFlight: z.number().int().min(1).max(64).default(4),
        requestTimeoutS: seconds.default(60),
        /** how often landed chunks are handed to the machine (and persisted) during a fetch */
        batchMs: z.number().int().min(1).max(10_000).default(200),
        /**
         * stream the blob whole (one GET, sliced by the manifest's offsets; held chunks read past)
         * instead of ranged GETs when at least this fraction of its bytes is missing and the plane
         * can stream; `never`: ranges unless the store refuses them. One stream avoids the per-request
         * cost of a store like Glance (auth, policy, image lookup: ~140 MiB/s in 4 MiB ranges where
         * one GET of the file gives ~1 GB/s here); a delta of a few changed chunks stays ranged.
         */
        wholeStreamAt: z.union([z.number().min(0).max(1), z.literal('never')]).default(0.5),
        /** worker threads that verify and decrypt chunks (default: one per core, at most 4) */
        cryptoWorkers: z.number().int().min(1).max(16).optional(),
      })
      .prefault({}),
    machine: z
      .strictObject({
        pollIntervalS: seconds.default(DEFAULT_AGENT_CONFIG.pollIntervalUs / 1e6),
        backoffBaseS: seconds.default(DEFAULT_AGENT_CONFIG.backoffBaseUs / 1e6),
        backoffCapS: seconds.default(DEFAULT_AGENT_CONFIG.backoffCapUs / 1e6),
        /** attempts per operation before the deployment is reported failed (0 = forever) */
        maxAttempts: z.number().int().nonnegative().default(DEFAULT_AGENT_CONFIG.maxAttempts),
        maxChunkRetries: z.number().int().nonnegative().default(DEFAULT_AGENT_CONFIG.maxChunkRetries),
        /** logins refused (401) in a row before the agent gives up and exits 3 (0 = never) */
        maxAuthFailures: z.number().int().nonnegative().max(1_000_000).default(DEFAULT_MAX_AUTH_FAILURES),
      })
      .prefault({}),
    /** seed of the backoff jitter (default: from the node name) */
    seed: z.number().int().optional(),
  });
}

/** a plane's section of agent.yaml: `kind` picks the node client */
export type PlaneSection = { kind: string } & Record<string, unknown>;
export type AgentFileConfig = Omit<z.infer<ReturnType<typeof agentConfigSchemaFor>>, 'plane'> & { plane: PlaneSection };

export function machineConfig(c: AgentFileConfig): AgentConfig {
  const us = (s: number) => Math.round(s * 1e6);
  return {
    pollIntervalUs: us(c.machine.pollIntervalS),
    backoffBaseUs: us(c.machine.backoffBaseS),
    backoffCapUs: us(c.machine.backoffCapS),
    maxAttempts: c.machine.maxAttempts,
    maxChunkRetries: c.machine.maxChunkRetries,
    maxAuthFailures: c.machine.maxAuthFailures,
  };
}

/** Parses agent.yaml text; paths in it are made absolute against `baseDir`. */
export function parseAgentConfig(text: string, source: string, baseDir: string, clients: readonly NodeClientFactory[]): AgentFileConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new InputError(`${source} is not valid YAML: ${(err as Error).message}`);
  }
  const parsed = agentConfigSchemaFor(clients).safeParse(raw);
  if (!parsed.success) throw new InputError(`${source} is not a valid agent configuration:\n${z.prettifyError(parsed.error)}`);
  const c = parsed.data;
  const abs = (p: string) => resolve(baseDir, p);
  return {
    ...c,
    stateDir: abs(c.stateDir),
    trust: c.trust.map(abs),
    plane: clientFor(clients, c.plane).resolvePaths(c.plane, abs),
  };
}

/** The node client of a section's `kind` (sections were validated against these clients). */
export function clientFor(clients: readonly NodeClientFactory[], section: PlaneSection): NodeClientFactory {
  const client = clients.find((c) => c.kind === section.kind);
  if (!client) throw new InputError(`no node client for plane kind ${JSON.stringify(section.kind)}`);
  return client;
}

export async function loadAgentConfig(path: string, clients: readonly NodeClientFactory[]): Promise<AgentFileConfig> {
  const text = await readInputText(path, { what: 'agent configuration', maxBytes: INPUT_LIMITS.agentConfig });
  return parseAgentConfig(text, path, dirname(resolve(path)), clients);
}

/** A 32-bit seed from the node name (stable across restarts, different per node). */
export function seedFor(c: AgentFileConfig): number {
  if (c.seed !== undefined) return c.seed | 0;
  let h = 0x811c9dc5;
  for (const ch of c.node) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193);
  return h | 0;
}
