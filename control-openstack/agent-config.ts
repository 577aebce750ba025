// The OpenStack section of agent.yaml (`plane: {kind: openstack, ...}`, written by `edgeplane
// fleet enroll`) and the node client an agent builds from it.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { NodeClientFactory } from '../adapters/index.js';
import { InputError } from '../common/index.js';
import type { NodeCredentials } from './client/index.js';
import { OpenStackNodePlane } from './client/node-plane.js';

const secretText = z.string().min(1);

/** NodeConfig of control-openstack/client/node.ts, as agent.yaml spells it. */
export const openstackAgentPlaneSchema = z
  .strictObject({
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
    /** per service type (`image`, `key-manager`), a URL used instead of the catalog's, as openstacksdk's `<service>_endpoint_override` (a node that reaches the services by another address than the catalog names) */
    endpointOverrides: z.partialRecord(z.enum(['image', 'key-manager']), z.url()).optional(),
  })
  .superRefine((p, ctx) => {
    const c = p.credentials;
    const [a, b, message] = c.kind === 'password' ? [c.password, c.passwordFile, 'give exactly one of password and passwordFile'] : [c.secret, c.secretFile, 'give exactly one of secret and secretFile'];
    if ((a === undefined) === (b === undefined)) ctx.addIssue({ code: 'custom', path: ['credentials'], message });
  });

export type OpenStackAgentPlane = z.infer<typeof openstackAgentPlaneSchema>;

async function secretOf(inline: string | undefined, file: string | undefined, what: string): Promise<string> {
  if (inline !== undefined) return inline;
  const text = await readFile(file!, 'utf8').catch(() => {
    throw new InputError(`cannot read the node ${what} file ${file}`);
  });
  return text.trim();
}

export const openstackNodeClient: NodeClientFactory<OpenStackAgentPlane> = {
  kind: 'openstack',
  configSchema: openstackAgentPlaneSchema,
  resolvePaths(p, abs) {
    const c = p.credentials;
    if (c.kind === 'password') return { ...p, credentials: { ...c, ...(c.passwordFile ? { passwordFile: abs(c.passwordFile) } : {}) } };
    return { ...p, credentials: { ...c, ...(c.secretFile ? { secretFile: abs(c.secretFile) } : {}) } };
  },
  async create(p, ctx) {
    const cred = p.credentials;
    const credentials: NodeCredentials =
      cred.kind === 'password'
        ? { kind: 'password', userId: cred.userId, projectId: cred.projectId, password: await secretOf(cred.password, cred.passwordFile, 'password') }
        : { kind: 'applicationCredential', id: cred.id, secret: await secretOf(cred.secret, cred.secretFile, 'application credential secret') };
    return new OpenStackNodePlane(
      { authUrl: p.authUrl, projectId: p.projectId, credentials, reportCredentialId: p.reportCredentialId },
      // no retry argument: the node plane's transport defaults to NO_RETRY (the machine owns retries)
      { timeoutMs: ctx.requestTimeoutMs, logger: ctx.logger, ...(p.endpointOverrides ? { endpointOverrides: p.endpointOverrides } : {}) },
    );
  },
  // ranges, and the whole-image stream an agent reads when the store refuses ranges (Glance on RBD)
  dataOps: ['glance.image.download_range', 'glance.image.download_whole'],
  reportOps: ['keystone.credential.update'],
  assignmentOps: ['keystone.project.show'],
};
