// The CloudStack plane's descriptor: its model and profile for the simulator, the emulator
// behind `edgeplane up|status|down cloudstack`, and the operator (`fleet`, `run --env real`).
import { wholeNumberFlag, type PlaneDescriptor, type PlaneServer } from '../adapters/index.js';
import { cloudstackNodeClient } from './agent-config.js';
import { calibrateCloudStack } from './calibrate.js';
import { cloudstackModel } from './model.js';
import { cloudstackOperator } from './operator.js';
import { cloudstackProfile } from './profile.js';
import { DEFAULT_PORT, DEFAULT_STATE_DIR } from './server/stack.js';
import { emulatorStatus, renderUp } from './server/status.js';
import { downEmulator, upEmulator } from './server/stack.js';

const server: PlaneServer = {
  defaultStateDir: DEFAULT_STATE_DIR,
  summary: 'cloudstack: a management-server emulator (signed API, async jobs, Core and Edge zones, SQLite state) with one KVM agent per host',
  upFlags: [
    { flags: '--api-port <port>', description: `cloudstack: API port (\`--port\` is OpenNebula's flag) (default ${DEFAULT_PORT})`, parse: wholeNumberFlag(1, 65535, 'expected a TCP port (1-65535)') },
    { flags: '--core-hosts <n>', description: 'cloudstack: KVM hosts of the Core zone, on first start (default 1)', parse: wholeNumberFlag(0, 1000, 'expected a whole number from 0 to 1000') },
    { flags: '--edge-hosts <n>', description: 'cloudstack: KVM hosts of the Edge zone, on first start (default 3)', parse: wholeNumberFlag(0, 1000, 'expected a whole number from 0 to 1000') },
    { flags: '--external-agents', description: 'cloudstack: run no KVM agents in the emulator; hosts stay Disconnected until agents connect with their tokens' },
  ],
  async up({ stateDir, flags, onProgress }) {
    const f = flags as { apiPort?: number; coreHosts?: number; edgeHosts?: number; externalAgents?: boolean };
    const r = await upEmulator({ stateDir, port: f.apiPort, coreHosts: f.coreHosts, edgeHosts: f.edgeHosts, externalAgents: f.externalAgents, onProgress });
    return renderUp(stateDir, r);
  },
  down: (stateDir) => downEmulator(stateDir),
  status: (stateDir) => emulatorStatus(stateDir),
};

export const cloudstack: PlaneDescriptor = {
  name: 'cloudstack',
  colour: '#009E73', // bluish green (Okabe & Ito)
  modes: ['native', 'agent'],
  options: {
    directDownload: { description: 'CloudStack direct download templates (cloudstack native only)', modes: ['native'] },
  },
  services: ['cs-management', 'secondary-storage', 'template-http', 'kms'],
  model: cloudstackModel,
  profile: () => cloudstackProfile('native', { flags: { directDownload: false } }),
  nodeClient: cloudstackNodeClient as unknown as PlaneDescriptor['nodeClient'],
  operator: cloudstackOperator,
  server,
  calibrate: ({ stateDir, samples, openLog, onProgress }) => calibrateCloudStack({ stateDir, samples, logger: openLog(), onProgress }),
};
