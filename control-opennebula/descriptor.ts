// The OpenNebula plane's descriptor (planes/index.ts lists it): the model and profile for the
// simulator, the local front-end launcher (`edgeplane up opennebula`), and what runs for real.
import { wholeNumberFlag, type PlaneDescriptor, type PlaneServer } from '../adapters/index.js';
import { InputError } from '../common/index.js';
import { opennebulaNodeClient } from './agent-config.js';
import { calibrateOpenNebula } from './calibrate.js';
import { oneNodeName, openOneFleet, parseAssignment } from './fleet.js';
import { opennebulaModel } from './model.js';
import { openNativeRun } from './native-run.js';
import { opennebulaProfile } from './profile.js';
import { DEFAULT_STATE_DIR, down, loadFrontEnd, renderStatus, renderUp, status, up } from './server/index.js';

const server: PlaneServer = {
  defaultStateDir: DEFAULT_STATE_DIR,
  summary: 'opennebula: oned 6.10.5, mm_sched and onemonitord built from source (build cache), dummy host/VM drivers, on loopback',
  upFlags: [
    { flags: '--source <tarball>', description: 'opennebula: the OpenNebula source tarball to build (default ../shared/vendor/opennebula-6.10.5.tar.gz)' },
    {
      flags: '--prefix <dir>',
      description: 'opennebula: an installed OpenNebula 6.10 instead of building: self-contained (install.sh -d DIR) or system-wide, as its packages install it (/ or /usr); copied, never changed',
    },
    { flags: '--endpoint <url>', description: 'opennebula: an existing front-end (http://host:2633/RPC2); nothing is started' },
    { flags: '--credentials <file>', description: 'opennebula, with --endpoint: user:password (ONE_AUTH format) or JSON {username, password}' },
    { flags: '--port <port>', description: 'opennebula: oned XML-RPC port; hooks +1/+2, monitord +3, edge services +10 (default 46000)', parse: wholeNumberFlag(1024, 65525, 'expected a TCP port (1024-65525)') },
    { flags: '--hosts <n>', description: 'opennebula: dummy hosts to create (default 4)', parse: wholeNumberFlag(0, 1000, 'expected a whole number from 0 to 1000') },
  ],
  async up({ stateDir, flags, logger, onProgress }) {
    const f = flags as { source?: string; prefix?: string; endpoint?: string; credentials?: string; port?: number; hosts?: number };
    if (f.credentials && !f.endpoint) throw new InputError('--credentials goes with --endpoint');
    return renderUp(await up({ stateDir, ...f, logger, onProgress }));
  },
  down: async (stateDir) => (await down(stateDir)).map((s) => ({ name: s.name, pid: s.pid, result: s.result })),
  async status(stateDir) {
    const st = await status(stateDir);
    const healthy = st.exists && st.api.healthy && st.daemons.every((d) => d.running);
    return { healthy, text: renderStatus(st), json: st };
  },
};

export const opennebula: PlaneDescriptor = {
  name: 'opennebula',
  colour: '#E69F00', // orange (Okabe & Ito)
  modes: ['native', 'agent'],
  options: {
    replicaCache: { description: 'OpenNebula replica cache datastore (opennebula native only)', modes: ['native'] },
  },
  services: ['oned', 'tm-ssh', 'vmm-kvm', 'frontend-http', 'kms'],
  model: opennebulaModel,
  profile: () => opennebulaProfile('native', { flags: { replicaCache: false } }),
  nodeClient: opennebulaNodeClient as unknown as PlaneDescriptor['nodeClient'],
  operator: { nodeName: oneNodeName, parsePin: parseAssignment, open: openOneFleet, native: openNativeRun, nativeEmulated: 'ssh' },
  server,
  calibrate: ({ stateDir, samples, openLog, onProgress }) => {
    loadFrontEnd(stateDir); // no front-end: exit 3 before anything is written
    return calibrateOpenNebula({ stateDir, samples, logger: openLog(), onProgress });
  },
};
