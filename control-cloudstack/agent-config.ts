// CloudStack's section of agent.yaml (`plane: {kind: cloudstack, url, accountId, apiKey, secretKey
// | secretKeyFile, originUrl?, kmsUrl?}`) and the node client an agent builds from it.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { NodeClientFactory } from '../adapters/index.js';
import { InputError } from '../common/index.js';
import { CloudStackNodePlane } from './client/node-plane.js';

export const cloudstackAgentPlaneSchema = z
  .strictObject({
    kind: z.literal('cloudstack'),
    /** the management server's API endpoint, e.g. http://127.0.0.1:48080/client/api */
    url: z.url(),
    originUrl: z.url().optional(),
    kmsUrl: z.url().optional(),
    accountId: z.string().min(1),
    apiKey: z.string().min(16),
    secretKey: z.string().min(16).optional(),
    secretKeyFile: z.string().min(1).optional(),
  })
  .superRefine((p, ctx) => {
    if ((p.secretKey === undefined) === (p.secretKeyFile === undefined)) ctx.addIssue({ code: 'custom', path: [], message: 'give exactly one of secretKey and secretKeyFile' });
  });

export type CloudStackAgentPlane = z.infer<typeof cloudstackAgentPlaneSchema>;

export const cloudstackNodeClient: NodeClientFactory<CloudStackAgentPlane> = {
  kind: 'cloudstack',
  configSchema: cloudstackAgentPlaneSchema,
  resolvePaths: (p, abs) => ({ ...p, ...(p.secretKeyFile ? { secretKeyFile: abs(p.secretKeyFile) } : {}) }),
  async create(p, ctx) {
    const secretKey =
      p.secretKey ??
      (
        await readFile(p.secretKeyFile!, 'utf8').catch(() => {
          throw new InputError(`cannot read the CloudStack secret key file ${p.secretKeyFile}`);
        })
      ).trim();
    return new CloudStackNodePlane({ url: p.url, originUrl: p.originUrl, kmsUrl: p.kmsUrl, accountId: p.accountId, apiKey: p.apiKey, secretKey, timeoutMs: ctx.requestTimeoutMs, logger: ctx.logger });
  },
  dataOps: ['http.image.download_range'],
  reportOps: ['cs.createTags'],
};
