// Shared by the OpenNebula integration tests: reuse the front-end .ci/run started
// (EDGEPLANE_OPENNEBULA_STATE), or start one into a temp dir (port base 46020) and stop it
// afterwards. EDGEPLANE_OPENNEBULA_TEST_PORTS moves the test front-ends' ports (default 46000: the
// shared one at +20, lifecycle's own at +40, system-prefix's at +60 and +80). The build cache must exist or be buildable (scripts/install-opennebula.sh --build).
// A front-end that cannot start makes the suite fail (never skip).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../common/index.js';
import { down, loadFrontEnd, up, type OneCredentials, type UpOptions } from '../../../control-opennebula/index.js';

export interface TestFrontEnd {
  stateDir: string;
  credentials: OneCredentials;
  release(): Promise<void>;
}

/** the longest an integration test waits for a front-end to start (a first bootstrap under load) */
export const START_TIMEOUT_MS = 600_000;

/** the base of the test front-ends' ports */
export const TEST_PORTS = Number(process.env.EDGEPLANE_OPENNEBULA_TEST_PORTS ?? 46000);

/** a front-end of the test's own at TEST_PORTS + `offset` (from the build cache, or `o.prefix`) */
export async function startFrontEnd(offset: number, hosts = 4, o: Pick<UpOptions, 'prefix'> = {}): Promise<TestFrontEnd> {
  const port = TEST_PORTS + offset;
  const dir = mkdtempSync(join(tmpdir(), 'edgeplane-opennebula-'));
  try {
    const r = await up({ stateDir: dir, port, hosts, ...o, logger: silentLogger, onProgress: () => {} });
    return {
      stateDir: dir,
      credentials: r.credentials,
      release: async () => {
        await down(dir);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await down(dir).catch(() => {});
    throw err;
  }
}

export async function acquireFrontEnd(): Promise<TestFrontEnd> {
  const shared = process.env.EDGEPLANE_OPENNEBULA_STATE;
  if (shared) {
    const { credentials } = loadFrontEnd(shared);
    return { stateDir: shared, credentials, release: async () => {} };
  }
  return startFrontEnd(20);
}
