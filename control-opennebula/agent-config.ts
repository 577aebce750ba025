// The OpenNebula section of agent.yaml (`plane: {kind: opennebula, ...}`, written at enrollment)
// and the node client an agent builds from it.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { NodeClientFactory } from '../adapters/index.js';
import { InputError } from '../common/index.js';
import { OneNodePlane } from './client/node-plane.js';

export const opennebulaAgentPlaneSchema = z
  .strictObject({
    kind: z.literal('opennebula'),
    /** oned XML-RPC, e.g. http://127.0.0.1:46000/RPC2 */
    endpoint: z.url(),
    /** the edge services (byte server + key service) edgeplane adds on the front-end */
    edgeUrl: z.url(),
    /** the node's ONE user */
    username: z.string().min(1).max(128),
    password: z.string().min(1).optional(),
    passwordFile: z.string().min(1).optional(),
  })
  .refine((p) => (p.password === undefined) !== (p.passwordFile === undefined), { message: 'give exactly one of password and passwordFile' });
export type OpenNebulaAgentPlane = z.infer<typeof opennebulaAgentPlaneSchema>;

export const opennebulaNodeClient: NodeClientFactory<OpenNebulaAgentPlane> = {
  kind: 'opennebula',
  configSchema: opennebulaAgentPlaneSchema,
  resolvePaths: (p, abs) => (p.passwordFile ? { ...p, passwordFile: abs(p.passwordFile) } : p),
  async create(p, ctx) {
    const password =
      p.password ??
      (
        await readFile(p.passwordFile!, 'utf8').catch(() => {
          throw new InputError(`cannot read the node password file ${p.passwordFile}`);
        })
      ).trim();
    return new OneNodePlane({ endpoint: p.endpoint, edgeUrl: p.edgeUrl, username: p.username, password }, { timeoutMs: ctx.requestTimeoutMs });
  },
  dataOps: ['http.image.download_range'],
  reportOps: ['one.user.update'],
};
