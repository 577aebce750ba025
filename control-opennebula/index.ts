// The OpenNebula plane: a simulation model (native: oned, the scheduler and the ssh transfer
// driver; agent: the edge agent against an added KMS and image service) and its complexity profile;
// the real front-end (server/), its XML-RPC client (client/), calibration and the real workflows.
export * from './model.js';
export * from './profile.js';
export * from './client/index.js';
export * from './server/index.js';
export { opennebula } from './descriptor.js';
