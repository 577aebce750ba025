// The TEST PLANE: a directory served over HTTP on loopback, standing in for a control plane in
// tests and local runs. Not a control plane: see docs/agent.md.
export { TestPlaneServer, parseRange, TEST_PLANE_PREFIX, type RangeLogEntry, type TestPlaneServerOptions } from './server.js';
export { TestPlaneClient, type TestPlaneClientOptions } from './client.js';
export {
  assignInTestPlane,
  checkNodeName,
  imageRef,
  parseImageRef,
  publishToTestPlane,
  readNodeRecord,
  testPlanePaths,
  type NodeRecord,
} from './layout.js';
export { testPlaneAgentSchema, testPlaneNodeClient, type TestPlaneAgentSection } from './agent-config.js';
export { testPlaneOperator, DEFAULT_TEST_PLANE_URL } from './operator.js';

import type { PlaneDescriptor } from '../adapters/index.js';
import { testPlaneNodeClient } from './agent-config.js';
import { testPlaneOperator } from './operator.js';

/** The test plane has a node client and a server, but no simulation model: scenarios cannot name it. */
export const testPlane: PlaneDescriptor = {
  name: 'test-plane',
  colour: '#56B4E9', // sky blue (Okabe & Ito)
  modes: ['agent'],
  options: {},
  services: ['test-plane'],
  nodeClient: testPlaneNodeClient as unknown as PlaneDescriptor['nodeClient'],
  operator: testPlaneOperator,
};
