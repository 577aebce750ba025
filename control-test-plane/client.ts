// The node's client of the TEST PLANE, on the instrumented transport (every call is recorded).
import { z } from 'zod';
import type { Assignment } from '../agent/machine/index.js';
import type { Logger } from '../common/index.js';
import type { NodePlane, NodeReport, PlaneManifest } from '../adapters/index.js';
import type { PlaneName } from '../adapters/index.js';
import { type CallRecorder, HttpError, NO_RETRY, Transport, type RetryPolicy } from '../adapters/transport/index.js';
import { assignmentSchema } from './layout.js';

export interface TestPlaneClientOptions {
  /** base URL, e.g. http://127.0.0.1:8080/test-plane/v1 */
  url: string;
  node: string;
  token: string;
  recorder?: CallRecorder;
  /** default NO_RETRY: the agent machine owns retries */
  retry?: RetryPolicy;
  timeoutMs?: number;
  logger?: Logger;
}

/**
 * NO_RETRY: the agent's machine does the backing off and retrying (one call per machine attempt);
 * the transport only retries a reset reused keep-alive socket once at once (and records it).
 */

// The transport's PlaneName lists the real planes; records of the test plane say so plainly.
const TEST_PLANE = 'test-plane' as PlaneName;

const loginAnswer = z.object({ session: z.string().min(1) });
const assignmentAnswer = z.object({ assignment: assignmentSchema.nullable() });
const manifestAnswer = z.object({ manifest: z.base64(), keyRef: z.string().min(1), blobRef: z.string().min(1) });

export class TestPlaneClient implements NodePlane {
  readonly plane = 'test-plane';
  readonly transport: Transport;
  private session: string | null = null;

  constructor(private readonly opts: TestPlaneClientOptions) {
    this.transport = new Transport({ plane: TEST_PLANE, recorder: opts.recorder, retry: opts.retry ?? NO_RETRY, timeoutMs: opts.timeoutMs, logger: opts.logger });
  }

  get recorder(): CallRecorder {
    return this.transport.recorder;
  }

  private auth(): Record<string, string> {
    return this.session === null ? {} : { Authorization: `Bearer ${this.session}` };
  }

  async login(): Promise<void> {
    this.session = null;
    const answer = await this.transport.json(this.opts.url, { op: 'test-plane.login', method: 'POST', path: '/login', body: { json: { node: this.opts.node, token: this.opts.token } } }, (d) => loginAnswer.parse(d));
    this.session = answer.session;
  }

  async getAssignment(): Promise<Assignment | null> {
    const answer = await this.transport.json(this.opts.url, { op: 'test-plane.assignment.show', method: 'GET', path: '/nodes/{node}/assignment', params: { node: this.opts.node }, headers: this.auth() }, (d) =>
      assignmentAnswer.parse(d),
    );
    return answer.assignment;
  }

  async getManifest(assignment: Assignment): Promise<PlaneManifest> {
    const answer = await this.transport.json(
      this.opts.url,
      { op: 'test-plane.manifest.show', method: 'GET', path: '/manifests/{ref}', params: { ref: `${assignment.imageId}@${assignment.version}` }, headers: this.auth() },
      (d) => manifestAnswer.parse(d),
    );
    return { bytes: Buffer.from(answer.manifest, 'base64'), keyRef: answer.keyRef, blobRef: answer.blobRef };
  }

  async getKey(keyRef: string): Promise<Buffer> {
    const res = await this.transport.request(this.opts.url, { op: 'test-plane.key.show', method: 'GET', path: '/keys/{ref}', params: { ref: keyRef }, headers: this.auth() });
    return res.body;
  }

  /**
   * One range of the blob. The agent's machine cannot re-login in the middle of a chunk fetch, so
   * a 401 here earns one login and one more try (as a Keystone session re-authenticates itself).
   */
  async downloadRange(blobRef: string, offset: number, length: number): Promise<Buffer> {
    try {
      return await this.range(blobRef, offset, length);
    } catch (err) {
      if (!(err instanceof HttpError && err.status === 401)) throw err;
      await this.login();
      return this.range(blobRef, offset, length);
    }
  }

  private range(blobRef: string, offset: number, length: number): Promise<Buffer> {
    return this.transport.range(this.opts.url, { op: 'test-plane.blob.range', path: '/blobs/{ref}', params: { ref: blobRef }, headers: this.auth() }, offset, length);
  }

  /** Closes the kept-alive data connections. */
  close(): void {
    this.transport.close();
  }

  async report(report: NodeReport): Promise<void> {
    const body: NodeReport = { status: report.status, image: report.image };
    if (report.failure !== undefined) body.failure = report.failure;
    await this.transport.request(this.opts.url, { op: 'test-plane.report', method: 'POST', path: '/nodes/{node}/report', params: { node: this.opts.node }, headers: this.auth(), body: { json: body } });
  }
}
