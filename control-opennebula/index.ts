// The OpenNebula plane: a simulation model (native: oned, the scheduler and the ssh transfer
// driver; agent: the edge agent against an added KMS and image service) and its complexity profile;
// the real front-end (server/), its XML-RPC client (client/), calibration and the real workflows.
export * from './model.js';
export * from './profile.js';
export * from './client/index.js';
export * from './server/index.js';
export { opennebula } from './descriptor.js';
export { OneNodePlane, EDGE_ATTRS, parsePin, type OneNodeConfig } from './client/node-plane.js';
export { opennebulaNodeClient, opennebulaAgentPlaneSchema, type OpenNebulaAgentPlane } from './agent-config.js';
export { OneFleet, openOneFleet, oneNodeName, parseAssignment, FLEET_GROUP, imageRule, parseImageRule, writeAgentFiles } from './fleet.js';
export { rollOut, deployOne, phasesOf, vmTemplateBody, type NativeDeployment, type NativeTarget, type VmStateChange, type NativeRolloutOptions } from './native.js';
export { openNativeRun, ensureHosts, registerImage, toRealDeployment, NO_BYTES_NOTE, SSH_BYTES_NOTE } from './native-run.js';
export { calibrateOpenNebula, CALIBRATED_OPS as ONE_CALIBRATED_OPS, DUMMY_OPS, CALIBRATION_NODE as ONE_CALIBRATION_NODE, type OneCalibrationFile } from './calibrate.js';
export { measurePlacement, poolHosts, poolRequirement, POOL_ATTR, type PlacementMeasurement } from './placement.js';
