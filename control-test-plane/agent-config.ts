// The test plane's section of agent.yaml (`plane: {kind: test-plane, url, token | tokenFile}`)
// and the node client an agent builds from it.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { NodeClientFactory } from '../adapters/index.js';
import { InputError } from '../common/index.js';
import { TestPlaneClient } from './client.js';

export const testPlaneAgentSchema = z
  .strictObject({
    kind: z.literal('test-plane'),
    /** base URL printed by `edgeplane test-plane serve`, e.g. http://127.0.0.1:8080/test-plane/v1 */
    url: z.url(),
    /** the node's credential, inline or in a file (one of them) */
    token: z.string().min(16).optional(),
    tokenFile: z.string().min(1).optional(),
  })
  .superRefine((p, ctx) => {
    if ((p.token === undefined) === (p.tokenFile === undefined)) ctx.addIssue({ code: 'custom', path: [], message: 'give exactly one of token and tokenFile' });
  });

export type TestPlaneAgentSection = z.infer<typeof testPlaneAgentSchema>;

export const testPlaneNodeClient: NodeClientFactory<TestPlaneAgentSection> = {
  kind: 'test-plane',
  configSchema: testPlaneAgentSchema,
  resolvePaths: (p, abs) => ({ ...p, ...(p.tokenFile ? { tokenFile: abs(p.tokenFile) } : {}) }),
  async create(p, ctx) {
    const token =
      p.token ??
      (
        await readFile(p.tokenFile!, 'utf8').catch(() => {
          throw new InputError(`cannot read the node token file ${p.tokenFile}`);
        })
      ).trim();
    return new TestPlaneClient({ url: p.url, node: ctx.node, token, timeoutMs: ctx.requestTimeoutMs, logger: ctx.logger });
  },
  dataOps: ['test-plane.blob.range'],
  reportOps: ['test-plane.report'],
  assignmentOps: ['test-plane.assignment.show'],
};
