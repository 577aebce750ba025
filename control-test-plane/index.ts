// The TEST PLANE: a directory served over HTTP on loopback, standing in for a control plane in
// tests and local runs. Not a control plane: see docs/agent.md.
export { TestPlaneServer, parseRange, TEST_PLANE_PREFIX, type RangeLogEntry, type TestPlaneServerOptions } from './server.js';
export { TestPlaneClient, TEST_PLANE_RETRY, type TestPlaneClientOptions } from './client.js';
export {
  assignInTestPlane,
  checkNodeName,
  imageRef,
  parseImageRef,
  publishToTestPlane,
  readNodeRecord,
  testPlanePaths,
  writeBlob,
  type NodeRecord,
} from './layout.js';
