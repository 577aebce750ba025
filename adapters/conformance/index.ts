// The conformance suite every plane runs (I/O: a fault proxy on node:http). Import it from here,
// never through adapters/index.ts, which stays free of I/O. It names no plane and no test runner:
// a plane's test gives a harness (harness.ts) and the runner's describe/it (registerConformance).
export { ensure, sameValue, settle, show } from './assert.js';
export { FAULT_KINDS, REFUSAL_KINDS, conformanceChecks, registerConformance, type ConformanceCheck, type ConformanceOptions, type TestApi } from './checks.js';
export { FaultProxy, type Fault, type FaultProxyOptions } from './fault-proxy.js';
export type { ConformanceFixture, ConformanceHarness, ProxyFactory } from './harness.js';
