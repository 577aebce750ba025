// The minimal OpenStack plane: simulation model and profile, placement without Nova, the real
// clients (node and operator), the launcher of the real stack, calibration and fleet workflows.
export * from './model.js';
export * from './profile.js';
export * from './placement.js';
export {
  up as upOpenStack,
  down as downOpenStack,
  status as openStackStatus,
  loadStack as loadOpenStackStack,
  measureLiveProfile,
  serviceRunning,
  isPortFree,
  processTree,
  missingPackages,
  stackLayout as openStackLayout,
  DEFAULT_STATE_DIR as OPENSTACK_STATE_DIR,
  DEFAULT_PORTS as OPENSTACK_DEFAULT_PORTS,
  TEST_PASSWORD_HASH_ROUNDS,
  SERVICES as OPENSTACK_SERVICES,
} from './server/index.js';
export type { UpOptions, RunningStack, StackEndpoints, StackStatus, ServiceStatus, StackPorts, StackLayout, ServiceName } from './server/index.js';
export {
  OpenStackNodeClient,
  OpenStackOperator,
  AssignmentMismatchError,
  ImageStatusError,
  RangeLengthError,
  CatalogError,
  KeystoneSession,
  KeystoneApi,
  GlanceApi,
  BarbicanApi,
  NODE_ROLES,
} from './client/index.js';
export { OpenStackNodePlane } from './client/node-plane.js';
export type { NodeConfig, NodeCredentials, NodeClientOptions, FetchedManifest, OperatorConfig, EnrolledNode, PublishedImage, KeystoneCredentials } from './client/index.js';
export { calibrateOpenStack, calibrationSource, CALIBRATED_OPS, CALIBRATION_NODE, CALIBRATION_CHUNK_BYTES } from './calibrate.js';
export type { CalibrationFile, CalibrateOptions } from './calibrate.js';
export { openFleet, openFleetFor, openCloudFleet, publishToFleet, enrollFleet, agentFileFor, parseAssignment, assignFleet, revokeFleet, fleetStatus } from './fleet.js';
export type { Fleet, PublishOptions, PublishResult, OpenStackAgentFile, EnrollResult, NodeStatus } from './fleet.js';
export { openstack, keystoneNodeId } from './descriptor.js';
export { openstackAgentPlaneSchema, openstackNodeClient, type OpenStackAgentPlane } from './agent-config.js';
export { renderStackStatus } from './server/text.js';
export { cloudTargetFrom, cloudsYamlSearchPath, loadCloud, loadOpenrc, v3Url, type CloudTarget } from './cloud-config.js';
