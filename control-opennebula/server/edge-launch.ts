// Starting the edge services process (byte server + key service) of `up`, from the compiled tree.
import { existsSync, mkdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { EnvironmentError } from '../../common/index.js';
import { repoRoot } from './build.js';
import type { OneLayout } from './layout.js';
import { isRunning, startDetached } from './processes.js';
import type { OneCredentials, OneState } from './state.js';

export function edgeServicesMarker(l: OneLayout): string {
  return `edge-services.js ${l.stateDir}`;
}

export function edgeServicesScript(): string {
  return join(repoRoot(), 'dist', 'control-opennebula', 'server', 'edge-services.js');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function answers(port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      r(true);
    });
    s.once('error', () => r(false));
  });
}

export async function startEdgeServices(l: OneLayout, state: OneState, port: number, _c: OneCredentials, onProgress: (m: string) => void): Promise<void> {
  if (isRunning(state.pids['edge-services'], edgeServicesMarker(l))) return;
  const script = edgeServicesScript();
  if (!existsSync(script)) throw new EnvironmentError(`${script} missing: run \`npm run build\` first`);
  if (await answers(port)) throw new EnvironmentError(`port ${port} (edge services) is in use: choose another --port base`);
  mkdirSync(join(l.edgeData, 'blobs'), { recursive: true });
  onProgress(`starting the edge services (byte server + key service) on 127.0.0.1:${port}`);
  state.pids['edge-services'] = startDetached(process.execPath, [script, l.stateDir, String(port)], { log: join(l.logs, 'edge-services.log'), env: process.env, cwd: l.stateDir });
  const deadline = Date.now() + 15_000;
  while (!(await answers(port))) {
    if (Date.now() > deadline || !isRunning(state.pids['edge-services'], edgeServicesMarker(l))) throw new EnvironmentError(`the edge services did not start; see ${join(l.logs, 'edge-services.log')}`);
    await sleep(100);
  }
}
