// The Apache CloudStack plane: a simulation model (native: the management server, its allocator
// and secondary storage or direct download; agent: the edge agent) and its complexity profile; a
// management-server emulator real CloudStack clients accept (server/), the signed-API client
// (client/) and the node-side KVM agent (kvm-agent/).
export * from './model.js';
export * from './profile.js';
export { canonicalString, javaUrlEncode, sign, verifySignature, parseExpires, formatExpires, type SignatureAlgorithm } from './api/signing.js';
export { API_ERROR, CS_ERROR, UNAUTHORIZED_TEXT, UNKNOWN_COMMAND_TEXT } from './api/errors.js';
export { CloudStackClient, CloudStackApiError, type CloudStackClientOptions, type CloudStackCredentials, type JobResult } from './client/api.js';
export { KvmAgent, checksumOf, type KvmAgentOptions } from './kvm-agent/agent.js';
export { CloudStackEmulator, type EmulatorOptions } from './server/emulator.js';
export { CloudStackNodePlane, PIN_TAG, STATUS_TAG, SEQ_TAG, SECRET_DETAIL, type CloudStackNodeOptions } from './client/node-plane.js';
export { enrollNode, publishImage, assignNode, type EnrolledCloudStackNode, type PublishedCloudStackImage } from './client/fleet.js';
export { cloudstackAgentPlaneSchema, cloudstackNodeClient, type CloudStackAgentPlane } from './agent-config.js';
export { StateDb } from './server/db.js';
export { AgentHub } from './server/agents.js';
export { COMMANDS } from './server/commands.js';
export {
  runEmulator,
  upEmulator,
  downEmulator,
  readCredentials,
  readRunning,
  bootstrap,
  DEFAULT_STATE_DIR as CLOUDSTACK_STATE_DIR,
  DEFAULT_PORT as CLOUDSTACK_DEFAULT_PORT,
  type Credentials,
  type RunningEmulator,
} from './server/stack.js';
export { cloudstack } from './descriptor.js';
export { CloudStackFleet, openCloudStackFleet, cloudstackOperator, cloudstackNodeName, parseCloudStackPin, NODE_TAG } from './operator.js';
export { openCloudStackNativeRun } from './native-run.js';
export { calibrateCloudStack, CALIBRATION_LABEL } from './calibrate.js';
