// What a plane gives the conformance suite: its descriptor and a harness that sets up, on the
// plane's real server (or emulator), two enrolled nodes and a published, sealed image pinned to
// one of them, and builds node clients with the plane's own node-client factory.
import type { Assignment } from '../../agent/machine/index.js';
import type { PlaneDescriptor } from '../descriptor.js';
import type { NodePlane } from '../node-plane.js';
import type { FaultProxy, FaultProxyOptions } from './fault-proxy.js';

/**
 * Starts a fault proxy in front of `target` (an origin) and returns it, started; the check that
 * hands it out sets its faults and closes it.
 */
export type ProxyFactory = (target: string, opts?: Pick<FaultProxyOptions, 'rewrite'>) => Promise<FaultProxy>;

export interface ConformanceFixture {
  /** what node A's `getAssignment` answers: the image pinned to A */
  imageA: Assignment;
  /** what node B's `getAssignment` answers: another image, or null (enrolled, nothing pinned) */
  imageB: Assignment | null;
  /** sizes of image A's sealed chunks in manifest order (at least 3) */
  chunkSizes: readonly number[];
  /** image A's plane blob: its sealed chunks concatenated in manifest order */
  blob: Buffer;
  /** a fresh client of node A (its own recorder, nothing recorded yet), from `plane.nodeClient.create` */
  nodeA(): Promise<NodePlane>;
  /** a fresh client of node B, likewise */
  nodeB(): Promise<NodePlane>;
  /**
   * A fresh client of node A whose every request (control and data) goes through fault proxies
   * started with `proxy`: one per origin the client talks to. A plane whose services hand out
   * each other's URLs (a service catalog) passes `rewrite` so the client follows them back through
   * the proxies. Absent: the error-mapping checks fail, naming the missing hook.
   */
  nodeAVia?(proxy: ProxyFactory): Promise<NodePlane>;
}

export interface ConformanceHarness {
  plane: PlaneDescriptor;
  setUp(): Promise<ConformanceFixture>;
  tearDown(): Promise<void>;
  /**
   * For a plane without a simulation model (`plane.model` absent): the op names one fault-free
   * deployment of `chunks` chunks records, in the agent machine's order. A plane with a model
   * must not give it: its model's `deploySequence` is what the recorded calls must equal.
   */
  expectedDeploySequence?(chunks: number): string[];
}
