// The local OpenStack stack: launcher (up/down/status), its layout and the live complexity profile.
export { up, down, status, loadStack, serviceRunning, SERVICE_COMMANDS } from './launcher.js';
export type { UpOptions, RunningStack, StackEndpoints, StackStatus, ServiceStatus } from './launcher.js';
export { DEFAULT_PORTS, DEFAULT_STATE_DIR, TEST_PASSWORD_HASH_ROUNDS, SERVICES, CEPH_DAEMONS, DEFAULT_CEPH_PORT_BASE, DEFAULT_MEMSTORE_BYTES, cephPortsFrom, stackLayout, endpointsFor } from './layout.js';
export type { StackPorts, StackLayout, ServiceName, CephDaemonName, CephPorts, StackServiceName } from './layout.js';
export { cephCli, cephHealth, cephDaemonRunning, CEPH_COMMANDS } from './ceph.js';
export { GLANCE_RBD_POOL, OPERATOR_ROLE, TOKEN_CACHE_SECONDS, GLANCE_OPERATOR_ONLY_RULES } from './configs.js';
export { isPortFree, processTree } from './processes.js';
export { OPENSTACK_PACKAGES, CEPH_PACKAGES, APT_INSTALL_COMMAND, missingPackages } from './packages.js';
export { measureLiveProfile, processFacts, listeningSockets, cephConfigLinesOf } from './measure.js';
