// The OpenStack plane's descriptor: what the composition root (planes/index.ts) lists. Its model
// and profile for the simulator, the agent's node client, the operator (fleet) workflows, the
// local stack launcher and the calibration, each reached only through this.
import { wholeNumberFlag, type CloudSelection, type FleetOperator, type PlaneDescriptor, type PlaneServer } from '../adapters/index.js';
import { InputError } from '../common/index.js';
import { openstackNodeClient } from './agent-config.js';
import { calibrateOpenStack } from './calibrate.js';
import { cloudTargetFrom } from './cloud-config.js';
import { agentFileFor, assignFleet, enrollFleet, fleetStatus, openFleetFor, parseAssignment, publishToFleet, revokeFleet, unassignFleet } from './fleet.js';
import { openstackModel } from './model.js';
import { openstackProfile } from './profile.js';
import { DEFAULT_STATE_DIR, down, loadStack, status, up } from './server/index.js';
import { renderStackStatus, renderUp } from './server/text.js';

/** Keystone node names allow `[a-z0-9-]`: scenario ids `site-000/node-0000` become `site-000-node-0000`. */
export function keystoneNodeId(id: string): string {
  return id.replace(/\//g, '-').toLowerCase();
}

async function openOperator(stateDir: string, target: CloudSelection = {}): Promise<FleetOperator> {
  const { operator } = await openFleetFor(stateDir, target);
  return {
    async publish(o) {
      const r = await publishToFleet(operator, o);
      return {
        pin: { imageId: r.imageId, version: r.version },
        chunks: r.chunks,
        blobBytes: r.blobBytes,
        sealed: r.sealed,
        keysGenerated: r.keysGenerated,
        keysDir: r.keysDir,
        details: { image: r.imageId, 'manifest image': r.manifestImageId, 'key secret': r.keySecretId },
        json: r,
      };
    },
    async enroll(nodeIds, o = {}) {
      const enrolled = await enrollFleet(operator, nodeIds, o);
      return enrolled.map((e) => ({
        nodeId: e.node.nodeId,
        agentPlane: { ...agentFileFor(e.node, []).plane },
        configFile: e.configFile,
        details: { project: e.node.projectId, user: e.node.userId },
      }));
    },
    async assign(pin, nodeIds) {
      return (await assignFleet(operator, pin, nodeIds)).map((p) => ({ nodeId: p.nodeId, pin: p.pinTag }));
    },
    revoke: (nodeIds) => revokeFleet(operator, nodeIds),
    unassign: (nodeIds) => unassignFleet(operator, nodeIds),
    async reroute(section, reach) {
      // the catalog's Glance and Barbican, as the node would find them after its login
      const endpoints = await operator.nodeEndpoints();
      return { ...section, authUrl: reach(String(section.authUrl)), endpointOverrides: { image: reach(endpoints.image), 'key-manager': reach(endpoints.keyManager) } };
    },
    async status(nodeIds = []) {
      return (await fleetStatus(operator, nodeIds)).map((s) => ({
        nodeId: s.nodeId,
        enabled: s.enabled,
        pin: s.pin,
        report: s.report && { status: s.report.status, seq: s.report.seq, image: s.report.image, ...(s.report.failure ? { failure: s.report.failure } : {}) },
      }));
    },
  };
}

/** A parser of a whole-number flag in [min, max]; `expected` says what a bad value should have been. */
const port = wholeNumberFlag(1, 65535, 'expected a TCP port (1-65535)');
const memstoreMiB = wholeNumberFlag(64, 1024 * 1024, 'expected MiB, a whole number from 64');
const workers = wholeNumberFlag(1, 64, 'expected a whole number from 1 to 64');

const server: PlaneServer = {
  defaultStateDir: DEFAULT_STATE_DIR,
  summary: 'openstack: MariaDB, Keystone, Glance, Barbican (and with --with-ceph a one-node Ceph) from Debian packages, on loopback',
  upFlags: [
    { flags: '--with-ceph', description: 'openstack: store Glance images in Ceph RBD: also run a one-node Ceph (mon, mgr, memstore OSD, RGW) in the state dir' },
    { flags: '--ceph-port-base <port>', description: 'openstack, with --with-ceph: mon v1 = base, mon v2 = base+1, RGW = base+2, daemons in base+11..base+110 (default 26789)', parse: port },
    { flags: '--memstore <MiB>', description: 'openstack, with --with-ceph: RAM cap of the memstore OSD in MiB (default 2048)', parse: memstoreMiB },
    { flags: '--keystone-port <port>', description: 'openstack: Keystone port (default 5000)', parse: port },
    { flags: '--glance-port <port>', description: 'openstack: Glance port (default 9292)', parse: port },
    { flags: '--barbican-port <port>', description: 'openstack: Barbican port (default 9311)', parse: port },
    { flags: '--db-port <port>', description: 'openstack: MariaDB port (default 3306)', parse: port },
    { flags: '--workers <n>', description: 'openstack: worker processes per API service (default 2)', parse: workers },
  ],
  async up({ stateDir, flags, logger, onProgress }) {
    const f = flags as { withCeph?: boolean; cephPortBase?: number; memstore?: number; keystonePort?: number; glancePort?: number; barbicanPort?: number; dbPort?: number; workers?: number };
    if (!f.withCeph && (f.cephPortBase !== undefined || f.memstore !== undefined)) throw new InputError('--ceph-port-base and --memstore need --with-ceph');
    const stack = await up({
      stateDir,
      withCeph: f.withCeph,
      cephPortBase: f.cephPortBase,
      memstoreBytes: f.memstore === undefined ? undefined : f.memstore * 1024 ** 2,
      ports: { keystone: f.keystonePort, glance: f.glancePort, barbican: f.barbicanPort, mariadb: f.dbPort },
      workers: f.workers,
      logger,
      onProgress,
    });
    return renderUp(stack);
  },
  down: async (stateDir) => (await down(stateDir)).map((s) => ({ name: s.name, pid: s.pid, result: s.result })),
  async status(stateDir) {
    const st = await status(stateDir);
    return { healthy: st.exists && st.services.every((s) => s.healthy), text: renderStackStatus(st), json: st };
  },
};

export const openstack: PlaneDescriptor = {
  name: 'openstack',
  colour: '#0072B2', // blue (Okabe & Ito)
  modes: ['agent'],
  missingModes: { native: "edgeplane's agent and pinning replace Nova" },
  options: {},
  services: ['keystone', 'glance-api', 'barbican'],
  model: openstackModel,
  profile: openstackProfile,
  nodeClient: openstackNodeClient as unknown as PlaneDescriptor['nodeClient'],
  operator: { nodeName: keystoneNodeId, parsePin: parseAssignment, open: openOperator },
  server,
  calibrate: ({ stateDir, samples, openLog, onProgress, cloud, openrc }) => {
    const target = cloudTargetFrom({ cloud, openrc });
    if (target) return calibrateOpenStack({ stateDir, target, samples, logger: openLog(), onProgress });
    loadStack(stateDir); // no stack: exit 3 before anything is written into the state dir
    return calibrateOpenStack({ stateDir, samples, logger: openLog(), onProgress });
  },
};
