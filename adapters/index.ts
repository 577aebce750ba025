// adapters/: the contract between edgeplane and a control plane: the plane descriptor, the
// simulation model, the node-plane and operator interfaces, the registry the composition root
// builds. No I/O on import: the instrumented transport every real client goes through is
// adapters/transport/index.ts, and the conformance suite adapters/conformance/index.ts.
export * from './descriptor.js';
export * from './model.js';
export * from './calibration.js';
export * from './registry.js';
export * from './node-plane.js';
