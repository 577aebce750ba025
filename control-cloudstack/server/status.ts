// What `up` and `status` print about the emulator: endpoints, credentials file, zones and hosts
// as the API reports them (a signed listZones/listHosts call: the status is the API's own answer).
import { CloudStackClient } from '../client/api.js';
import { type Credentials, paths, readCredentials, readRunning } from './stack.js';

export function renderUp(stateDir: string, r: { started: boolean; running: { pid: number; url: string; builtinAgents: boolean }; credentials: Credentials }): string[] {
  return [
    `cloudstack emulator ${r.started ? 'started' : 'already running'} (pid ${r.running.pid})`,
    `  API          ${r.credentials.apiUrl}`,
    `  credentials  ${paths.credentials(stateDir)} (admin API key and secret, login, agent tokens)`,
    `  agents       ${r.running.builtinAgents ? `built in: one KVM agent per host (${r.credentials.hosts.length}), sim hypervisor` : 'external: hosts wait for their agents'}`,
    `  state        ${paths.db(stateDir)}`,
  ];
}

export async function emulatorStatus(stateDir: string): Promise<{ healthy: boolean; text: string; json: unknown }> {
  const running = readRunning(stateDir);
  if (!running) return { healthy: false, text: `cloudstack emulator: not running (state ${stateDir})`, json: { running: false, stateDir } };
  const creds = readCredentials(stateDir);
  const client = new CloudStackClient({ url: creds.apiUrl, apiKey: creds.apiKey, secretKey: creds.secretKey, timeoutMs: 5_000 });
  try {
    const zones = await client.list('listZones', 'zone');
    const hosts = await client.list('listHosts', 'host', { type: 'Routing' });
    const lines = [`cloudstack emulator: running (pid ${running.pid}) at ${creds.apiUrl}`];
    for (const z of zones) {
      const zh = hosts.filter((h) => h.zoneid === z.id);
      lines.push(`  zone ${z.name} (${z.type}): ${zh.map((h) => `${h.name} ${h.state}`).join(', ') || 'no hosts'}`);
    }
    const healthy = hosts.every((h) => h.state === 'Up') || !running.builtinAgents;
    return { healthy, text: lines.join('\n'), json: { running: true, pid: running.pid, url: creds.apiUrl, zones, hosts } };
  } catch (err) {
    return { healthy: false, text: `cloudstack emulator: pid ${running.pid} runs but its API does not answer: ${(err as Error).message}`, json: { running: true, pid: running.pid, error: (err as Error).message } };
  } finally {
    client.close();
  }
}
