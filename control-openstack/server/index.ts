// The local OpenStack stack: launcher (up/down/status), its layout and the live complexity profile.
export { up, down, status, loadStack, serviceRunning, SERVICE_COMMANDS } from './launcher.js';
export type { UpOptions, RunningStack, StackEndpoints, StackStatus, ServiceStatus } from './launcher.js';
export { DEFAULT_PORTS, DEFAULT_STATE_DIR, TEST_PASSWORD_HASH_ROUNDS, SERVICES, stackLayout, endpointsFor } from './layout.js';
export type { StackPorts, StackLayout, ServiceName } from './layout.js';
export { isPortFree } from './processes.js';
export { OPENSTACK_PACKAGES, APT_INSTALL_COMMAND, missingPackages } from './packages.js';
export { measureLiveProfile, processFacts, listeningSockets } from './measure.js';
