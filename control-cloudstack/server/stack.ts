// `edgeplane up|status|down cloudstack`: the emulator as a background process with its state dir
//   <state>/cloudstack.sqlite      the database (sql.js)
//   <state>/credentials.json       admin API key + secret, login, endpoints, each host's agent token (0600)
//   <state>/emulator.json          pid, port, url of the running emulator
//   <state>/secondary/, primary/, origin/   template copies, per-pool caches, the agent-mode origin
//   <state>/logs/emulator.log
// On first start it builds the cloud: a Core zone and an Edge zone with their pods, clusters and
// hosts, service offerings, OS types and the admin account. With built-in agents (default) one
// KVM agent per host runs in the emulator's process with the sim hypervisor; `--external-agents`
// leaves the hosts Disconnected until agents connect with the tokens in credentials.json.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { createHypervisor } from '../../agent/index.js';
import { EnvironmentError, InputError, silentLogger, type Logger } from '../../common/index.js';
import { KvmAgent } from '../kvm-agent/agent.js';
import type { Cloud } from './cloud.js';
import { StateDb } from './db.js';
import { CloudStackEmulator } from './emulator.js';
import type { HostRec, ZoneRec } from './types.js';

export const DEFAULT_STATE_DIR = '.edgeplane/cloudstack';
export const DEFAULT_PORT = 48080;

export const credentialsSchema = z.object({
  url: z.string(),
  apiUrl: z.string(),
  username: z.string(),
  password: z.string(),
  apiKey: z.string(),
  secretKey: z.string(),
  hosts: z.array(z.object({ id: z.string(), name: z.string(), zoneid: z.string(), zone: z.string(), token: z.string() })),
});
export type Credentials = z.infer<typeof credentialsSchema>;

const runningSchema = z.object({ pid: z.number().int(), port: z.number().int(), url: z.string(), builtinAgents: z.boolean() });

export interface CloudSpec {
  coreHosts: number;
  edgeHosts: number;
}

export interface EmulatorRunOptions extends Partial<CloudSpec> {
  stateDir: string;
  port?: number;
  host?: string;
  builtinAgents?: boolean;
  hypervisor?: 'sim' | 'qemu';
  bootDelayMs?: number;
  logger?: Logger;
  agentTimeoutMs?: number;
}

export const paths = {
  db: (s: string) => join(s, 'cloudstack.sqlite'),
  credentials: (s: string) => join(s, 'credentials.json'),
  running: (s: string) => join(s, 'emulator.json'),
  log: (s: string) => join(s, 'logs', 'emulator.log'),
  primary: (s: string) => join(s, 'primary'),
};

function writeAtomic(path: string, text: string, mode = 0o600): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, path);
}

/** First start: the zones, hosts, offerings, OS types and the admin account with its keys. */
export function bootstrap(cloud: Cloud, spec: CloudSpec, url: string): Credentials {
  const password = randomBytes(12).toString('base64url');
  const { user } = cloud.createAccount({ name: 'admin', username: 'admin', password, admin: true });
  const keys = cloud.registerUserKeys(user.id);
  const core = cloud.addZone('core-1', 'Core');
  const edge = cloud.addZone('edge-1', 'Edge');
  for (let i = 0; i < spec.coreHosts; i++) cloud.addHost(core.id, `core-kvm-${i + 1}`);
  for (let i = 0; i < spec.edgeHosts; i++) cloud.addHost(edge.id, `edge-kvm-${i + 1}`);
  cloud.addOffering('Small Instance', 1, 512);
  cloud.addOffering('Medium Instance', 2, 2048);
  for (const os of ['Debian GNU/Linux 12 (64-bit)', 'Ubuntu 22.04 LTS', 'Other Linux (64-bit)']) cloud.addOsType(os);
  cloud.db.flush();
  return credentialsOf(cloud, url, { username: 'admin', password, apiKey: keys.apikey, secretKey: keys.secretkey });
}

function credentialsOf(cloud: Cloud, url: string, admin: Pick<Credentials, 'username' | 'password' | 'apiKey' | 'secretKey'>): Credentials {
  const zones = new Map(cloud.list<ZoneRec>('zones').map((z) => [z.id, z.name]));
  return {
    url,
    apiUrl: `${url}/client/api`,
    username: admin.username,
    password: admin.password,
    apiKey: admin.apiKey,
    secretKey: admin.secretKey,
    hosts: cloud.list<HostRec>('hosts').map((h) => ({ id: h.id, name: h.name, zoneid: h.zoneid, zone: zones.get(h.zoneid) ?? '', token: h._agentToken })),
  };
}

export function readCredentials(stateDir: string): Credentials {
  const file = paths.credentials(stateDir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new EnvironmentError(`no CloudStack emulator in ${stateDir} (no ${file}): run \`edgeplane up cloudstack --state ${stateDir}\``);
  }
  const parsed = credentialsSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new InputError(`${file} is not a credentials file of the CloudStack emulator`);
  return parsed.data;
}

export interface RunningEmulator {
  emulator: CloudStackEmulator;
  credentials: Credentials;
  agents: KvmAgent[];
  stop(): Promise<void>;
}

/** Runs the emulator in this process (what the background process and the tests do). */
export async function runEmulator(o: EmulatorRunOptions): Promise<RunningEmulator> {
  mkdirSync(o.stateDir, { recursive: true });
  const log = o.logger ?? silentLogger;
  const db = await StateDb.open(paths.db(o.stateDir));
  const emulator = new CloudStackEmulator({ db, stateDir: o.stateDir, host: o.host, port: o.port ?? DEFAULT_PORT, logger: log, agentTimeoutMs: o.agentTimeoutMs });
  try {
    await emulator.start();
  } catch (err) {
    db.close();
    throw new EnvironmentError(`cloudstack emulator: cannot listen on port ${o.port ?? DEFAULT_PORT}: ${(err as Error).message}`);
  }
  let credentials: Credentials;
  if (db.count('zones') === 0) {
    credentials = bootstrap(emulator.cloud, { coreHosts: o.coreHosts ?? 1, edgeHosts: o.edgeHosts ?? 3 }, emulator.url);
  } else {
    const old = readCredentials(o.stateDir);
    credentials = credentialsOf(emulator.cloud, emulator.url, old);
  }
  writeAtomic(paths.credentials(o.stateDir), `${JSON.stringify(credentials, null, 2)}\n`);
  const agents: KvmAgent[] = [];
  if (o.builtinAgents ?? true) {
    for (const h of credentials.hosts) {
      const workDir = join(o.stateDir, 'hosts', h.name);
      mkdirSync(workDir, { recursive: true });
      const agent = new KvmAgent({
        managementUrl: emulator.url,
        hostid: h.id,
        token: h.token,
        primaryDir: paths.primary(o.stateDir),
        hypervisor: createHypervisor(o.hypervisor ?? 'sim', { workDir, bootDelayMs: o.bootDelayMs ?? 50, log }),
        logger: log,
      });
      await agent.start();
      agents.push(agent);
    }
  }
  return {
    emulator,
    credentials,
    agents,
    async stop() {
      // the agents' long polls are answered at once, then each agent stops its VM
      for (const a of agents) a.halt();
      emulator.cloud.hub.close();
      await Promise.all(agents.map((a) => a.stop()));
      await emulator.stop();
      db.close();
    },
  };
}

// ---- the background process ----

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

function alive(pid: number): boolean {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes('control-cloudstack/server/main.js');
  } catch {
    return false;
  }
}

export function readRunning(stateDir: string): z.infer<typeof runningSchema> | null {
  try {
    const r = runningSchema.parse(JSON.parse(readFileSync(paths.running(stateDir), 'utf8')));
    return alive(r.pid) ? r : null;
  } catch {
    return null;
  }
}

export function markRunning(stateDir: string, r: z.infer<typeof runningSchema>): void {
  writeAtomic(paths.running(stateDir), `${JSON.stringify(r)}\n`, 0o644);
}

export async function upEmulator(o: {
  stateDir: string;
  port?: number;
  /** the address it listens on (default 127.0.0.1) */
  host?: string;
  coreHosts?: number;
  edgeHosts?: number;
  externalAgents?: boolean;
  onProgress?: (m: string) => void;
}): Promise<{ started: boolean; running: z.infer<typeof runningSchema>; credentials: Credentials }> {
  const current = readRunning(o.stateDir);
  if (current) return { started: false, running: current, credentials: readCredentials(o.stateDir) };
  if (!existsSync(MAIN)) throw new EnvironmentError(`${MAIN} is missing: build first (npm run build)`);
  mkdirSync(join(o.stateDir, 'logs'), { recursive: true });
  const args = [MAIN, '--state', o.stateDir, '--port', String(o.port ?? DEFAULT_PORT), '--core-hosts', String(o.coreHosts ?? 1), '--edge-hosts', String(o.edgeHosts ?? 3)];
  if (o.externalAgents) args.push('--external-agents');
  if (o.host) args.push('--host', o.host);
  o.onProgress?.(`starting the CloudStack emulator on port ${o.port ?? DEFAULT_PORT}`);
  const fd = openSync(paths.log(o.stateDir), 'a');
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  child.unref();
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && !exited) {
    const r = readRunning(o.stateDir);
    if (r && r.pid === child.pid) return { started: true, running: r, credentials: readCredentials(o.stateDir) };
    await new Promise((r2) => setTimeout(r2, 100));
  }
  if (!exited) child.kill('SIGTERM');
  const tail = existsSync(paths.log(o.stateDir)) ? readFileSync(paths.log(o.stateDir), 'utf8').trim().split('\n').slice(-5).join('\n') : '';
  throw new EnvironmentError(`the CloudStack emulator did not start (log ${paths.log(o.stateDir)}):\n${tail}`);
}

export async function downEmulator(stateDir: string): Promise<{ name: string; pid: number | null; result: string }[]> {
  const r = readRunning(stateDir);
  if (!r) return [{ name: 'cloudstack-emulator', pid: null, result: 'not running' }];
  process.kill(r.pid, 'SIGTERM');
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && alive(r.pid)) await new Promise((res) => setTimeout(res, 100));
  if (alive(r.pid)) {
    process.kill(r.pid, 'SIGKILL');
    return [{ name: 'cloudstack-emulator', pid: r.pid, result: 'killed' }];
  }
  return [{ name: 'cloudstack-emulator', pid: r.pid, result: 'stopped' }];
}
