// The agent's configuration file (agent.yaml), validated with zod; relative paths resolve against
// the file's directory.
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { InputError } from '../../common/index.js';
import { HYPERVISOR_KINDS } from '../hypervisor/index.js';
import { DEFAULT_AGENT_CONFIG, type AgentConfig } from '../machine/index.js';

const seconds = z.number().positive().max(86_400);

const testPlaneSchema = z.strictObject({
  kind: z.literal('test-plane'),
  /** base URL printed by `edgeplane test-plane serve`, e.g. http://127.0.0.1:8080/test-plane/v1 */
  url: z.url(),
  /** the node's credential, inline or in a file (one of them) */
  token: z.string().min(16).optional(),
  tokenFile: z.string().min(1).optional(),
});

const secretText = z.string().min(1);

/** A node enrolled on the minimal OpenStack (`edgeplane fleet enroll` writes this section): NodeConfig of control-openstack/client/node.ts. */
const openstackPlaneSchema = z.strictObject({
  kind: z.literal('openstack'),
  /** Keystone v3, e.g. http://127.0.0.1:5000/v3 */
  authUrl: z.url(),
  /** the node's own Keystone project (its pin lives in its tags) */
  projectId: z.string().min(1).max(64),
  credentials: z.discriminatedUnion('kind', [
    z.strictObject({
      kind: z.literal('password'),
      userId: z.string().min(1).max(64),
      /** inline or in a file (one of them) */
      password: secretText.optional(),
      passwordFile: z.string().min(1).optional(),
      projectId: z.string().min(1).max(64),
    }),
    z.strictObject({
      kind: z.literal('applicationCredential'),
      id: z.string().min(1).max(64),
      /** inline or in a file (one of them) */
      secret: secretText.optional(),
      secretFile: z.string().min(1).optional(),
    }),
  ]),
  /** the Keystone credential the node writes its status report into */
  reportCredentialId: z.string().min(1).max(64),
});

export const agentConfigSchema = z
  .strictObject({
    node: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'letters, digits, ".", "_" and "-"'),
    /** state.json, the chunk store, staged images, events.ndjson and agent.log live here */
    stateDir: z.string().min(1),
    plane: z.discriminatedUnion('kind', [testPlaneSchema, openstackPlaneSchema]),
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
      })
      .prefault({}),
    /** seed of the backoff jitter (default: from the node name) */
    seed: z.number().int().optional(),
  })
  .superRefine((c, ctx) => {
    const p = c.plane;
    const one = (a: unknown, b: unknown, path: string[], message: string) => {
      if ((a === undefined) === (b === undefined)) ctx.addIssue({ code: 'custom', path, message });
    };
    if (p.kind === 'test-plane') one(p.token, p.tokenFile, ['plane'], 'give exactly one of token and tokenFile');
    else if (p.credentials.kind === 'password') one(p.credentials.password, p.credentials.passwordFile, ['plane', 'credentials'], 'give exactly one of password and passwordFile');
    else one(p.credentials.secret, p.credentials.secretFile, ['plane', 'credentials'], 'give exactly one of secret and secretFile');
  });

export type AgentFileConfig = z.infer<typeof agentConfigSchema>;

export function machineConfig(c: AgentFileConfig): AgentConfig {
  const us = (s: number) => Math.round(s * 1e6);
  return {
    pollIntervalUs: us(c.machine.pollIntervalS),
    backoffBaseUs: us(c.machine.backoffBaseS),
    backoffCapUs: us(c.machine.backoffCapS),
    maxAttempts: c.machine.maxAttempts,
    maxChunkRetries: c.machine.maxChunkRetries,
  };
}

/** Parses agent.yaml text; paths in it are made absolute against `baseDir`. */
export function parseAgentConfig(text: string, source: string, baseDir: string): AgentFileConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new InputError(`${source} is not valid YAML: ${(err as Error).message}`);
  }
  const parsed = agentConfigSchema.safeParse(raw);
  if (!parsed.success) throw new InputError(`${source} is not a valid agent configuration:\n${z.prettifyError(parsed.error)}`);
  const c = parsed.data;
  const abs = (p: string) => resolve(baseDir, p);
  return {
    ...c,
    stateDir: abs(c.stateDir),
    trust: c.trust.map(abs),
    plane: absPlane(c.plane, abs),
  };
}

function absPlane(p: AgentFileConfig['plane'], abs: (path: string) => string): AgentFileConfig['plane'] {
  if (p.kind === 'test-plane') return { ...p, ...(p.tokenFile ? { tokenFile: abs(p.tokenFile) } : {}) };
  const c = p.credentials;
  if (c.kind === 'password') return { ...p, credentials: { ...c, ...(c.passwordFile ? { passwordFile: abs(c.passwordFile) } : {}) } };
  return { ...p, credentials: { ...c, ...(c.secretFile ? { secretFile: abs(c.secretFile) } : {}) } };
}

export async function loadAgentConfig(path: string): Promise<AgentFileConfig> {
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new InputError(`cannot read agent configuration ${path}: ${err.code ?? err.message}`);
  });
  return parseAgentConfig(text, path, dirname(resolve(path)));
}

/** A 32-bit seed from the node name (stable across restarts, different per node). */
export function seedFor(c: AgentFileConfig): number {
  if (c.seed !== undefined) return c.seed | 0;
  let h = 0x811c9dc5;
  for (const ch of c.node) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193);
  return h | 0;
}
