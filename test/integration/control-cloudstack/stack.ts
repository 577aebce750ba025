// The CloudStack emulator for integration tests: the one .ci/run started (EDGEPLANE_CLOUDSTACK_STATE
// names its state dir), or one started here with the built CLI (`edgeplane up cloudstack`) on
// a free port in a temp dir, stopped by `release`. Either way a real background process.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readCredentials, type Credentials } from '../../../control-cloudstack/index.js';
import { freePort } from '../../free-port.js';

const CLI = resolve(import.meta.dirname, '../../../dist/cli/main.js');

export async function acquireEmulator(): Promise<{ stateDir: string; credentials: Credentials; release: () => void }> {
  const shared = process.env.EDGEPLANE_CLOUDSTACK_STATE;
  if (shared) return { stateDir: shared, credentials: readCredentials(shared), release: () => undefined };
  const stateDir = mkdtempSync(join(tmpdir(), 'ep-cs-int-'));
  execFileSync(process.execPath, [CLI, 'up', 'cloudstack', '--state', stateDir, '--api-port', String(await freePort())], { stdio: 'pipe' });
  return {
    stateDir,
    credentials: readCredentials(stateDir),
    release: () => {
      execFileSync(process.execPath, [CLI, 'down', 'cloudstack', '--state', stateDir], { stdio: 'pipe' });
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
