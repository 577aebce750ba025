// `edgeplane up|down|status opennebula`: a real OpenNebula 6.10 front-end (oned, mm_sched,
// onemonitord and the Ruby drivers, dummy host/VM drivers) in a self-contained prefix under the
// state folder. Three ways to get it: built from the source tarball into the build cache (default),
// copied from an installed OpenNebula (--prefix: a self-contained prefix, or assembled from a
// system-wide installation, see installed.ts), or an existing front-end (--endpoint + --credentials:
// nothing is started). `up` is idempotent; `down` stops exactly what `up` started, the dummy IM's
// detached monitoring client included.
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { execa } from 'execa';
import { NO_RETRY } from '../../adapters/transport/index.js';
import { EnvironmentError, InputError, type Logger } from '../../common/index.js';
import { OneClient } from '../client/api.js';
import { OneError } from '../client/errors.js';
import { HOST_STATE } from '../client/schemas.js';
import { defaultSource, ensureBuild } from './build.js';
import { edgeServicesMarker, startEdgeServices } from './edge-launch.js';
import { monitordClientControl, monitordConf, onedConf, schedConf } from './configs.js';
import { assemblyPlan, detectInstallation, installationId, selfContainedPrefix, type Installation } from './installed.js';
import { DEFAULT_HOSTS, DEFAULT_PORT, FRONTEND_SSH_NAME, oneLayout, stockPath, portsFrom, STOCK_FILES as STOCK, TESTBED_SCHED_INTERVAL_S, type DaemonName, type OneLayout } from './layout.js';
import { writeSshConfig } from './ssh-config.js';
import { commandLine, isRunning, processesMatching, startDetached, stop } from './processes.js';
import { parseCredentialsText, readCredentials, readOneState, writeCredentials, writeOneState, type OneCredentials, type OneState } from './state.js';

export interface UpOptions {
  stateDir: string;
  /** the source tarball (default: ../shared/vendor/opennebula-6.10.5.tar.gz) */
  source?: string;
  /** an installed OpenNebula to copy instead of building: a self-contained prefix (ONE_LOCATION layout), or the root or usr folder of a system-wide one (the packages' layout) */
  prefix?: string;
  /** an existing front-end: nothing is started */
  endpoint?: string;
  credentials?: string;
  port?: number;
  hosts?: number;
  logger: Logger;
  onProgress: (message: string) => void;
}

export interface RunningFrontEnd {
  layout: OneLayout;
  state: OneState;
  credentials: OneCredentials;
  version: string;
}

const API_WAIT_MS = 180_000;
const HOSTS_WAIT_MS = 180_000;

export const hostName = (i: number) => `host-${String(i).padStart(3, '0')}`;

function markerOf(l: OneLayout, d: DaemonName): string {
  return d === 'edge-services' ? edgeServicesMarker(l) : join(l.prefix, 'bin', d);
}

export function daemonEnv(l: OneLayout, endpoint: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ONE_LOCATION: l.prefix,
    ONE_AUTH: l.oneAuth,
    ONE_XMLRPC: endpoint,
    // as the packages' opennebula.service: the drivers' ssh wrapper (ControlMaster=auto) first
    PATH: `${join(l.prefix, 'lib', 'sh', 'override')}:${join(l.prefix, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    RUBYLIB: join(l.prefix, 'lib', 'ruby'),
    // the drivers' ssh (src/mad/sh/scripts_common.sh) with the front-end's own configuration:
    // hosts over ssh (an emulated fleet) are reached as it says; without hosts it names none
    SSH: `ssh -F ${l.sshConfig}`,
    SSH_FWD: `ssh -F ${l.sshConfig} -o ForwardAgent=yes -o ControlMaster=no -o ControlPath=none`,
  };
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      r(true);
    });
    s.once('error', () => r(false));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tail(file: string, lines = 8): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export function adminClient(c: OneCredentials, o: { timeoutMs?: number } = {}): OneClient {
  return new OneClient({ endpoint: c.endpoint, username: c.username, password: c.password, retry: NO_RETRY, timeoutMs: o.timeoutMs ?? 15_000 });
}

/** The front-end in `stateDir` (EnvironmentError when there is none). */
export function loadFrontEnd(stateDir: string): { layout: OneLayout; state: OneState; credentials: OneCredentials } {
  const layout = oneLayout(stateDir);
  const state = readOneState(layout.stateFile);
  const credentials = readCredentials(layout.credentialsFile);
  if (!state || !credentials) throw new EnvironmentError(`no OpenNebula front-end in ${layout.stateDir}`, [`start one: edgeplane up opennebula --state ${stateDir}`]);
  return { layout, state, credentials };
}

/** the prefix under the state folder: a copy of `from` (only read), assembled into the ONE_LOCATION layout when it is system-wide */
async function copyPrefix(from: Installation, l: OneLayout, onProgress: (m: string) => void): Promise<void> {
  onProgress(`installing the prefix ${l.prefix} (from ${installationId(from)})`);
  const tmp = `${l.prefix}.partial`;
  await execa('rm', ['-rf', tmp]);
  const plan = assemblyPlan(from);
  for (const step of plan.copies) {
    const into = join(tmp, step.into);
    mkdirSync(into, { recursive: true });
    try {
      await execa('cp', ['-a', ...step.sources, `${into}/`]);
    } catch (err) {
      throw new EnvironmentError(`copying ${installationId(from)} into ${tmp} failed`, [((err as { stderr?: string }).stderr ?? (err as Error).message).trim().split('\n').slice(-4).join('\n')]);
    }
  }
  for (const d of plan.dirs) mkdirSync(join(tmp, d), { recursive: true });
  for (const f of STOCK) {
    const file = join(tmp, f);
    if (!existsSync(file)) throw new EnvironmentError(`${installationId(from)} is not an OpenNebula 6.10 installation: ${f} missing`);
    mkdirSync(dirname(stockPath(tmp, f)), { recursive: true });
    copyFileSync(file, stockPath(tmp, f));
  }
  await execa('mv', [tmp, l.prefix]);
}

function writeConfigs(l: OneLayout, base: number, schedIntervalS: number): void {
  const ports = portsFrom(base);
  const stock = (f: (typeof STOCK)[number]) => readFileSync(stockPath(l.prefix, f), 'utf8');
  writeFileSync(join(l.prefix, STOCK[0]), onedConf(stock(STOCK[0]), { port: ports.oned, hookPub: ports.hookPub, hookRep: ports.hookRep, remoteScripts: l.remoteScripts, hostname: FRONTEND_SSH_NAME }));
  writeFileSync(join(l.prefix, STOCK[1]), monitordConf(stock(STOCK[1]), { port: ports.monitord }));
  writeFileSync(join(l.prefix, STOCK[2]), schedConf(stock(STOCK[2]), { onedPort: ports.oned, intervalS: schedIntervalS }));
  writeFileSync(join(l.prefix, STOCK[3]), monitordClientControl(stock(STOCK[3])), { mode: 0o755 });
}

async function waitForApi(client: OneClient, pid: number, l: OneLayout, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (!isRunning(pid, join(l.prefix, 'bin', 'oned'))) {
      throw new EnvironmentError('oned exited during start-up', [tail(join(l.var, 'oned.log')), tail(join(l.logs, 'oned.stdout'))].filter(Boolean));
    }
    try {
      return await client.version();
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(250);
  }
  throw new EnvironmentError(`oned did not answer on ${client.rpc.url} within ${timeoutMs / 1000} s`, [last, tail(join(l.var, 'oned.log'))]);
}

/**
 * Before oned starts again after it did not stop cleanly (killed, crashed, SIGTERM during its own
 * start-up): oned refuses to start while its lock file exists ("Cannot start oned, opening lock
 * file"), and the drivers of the old oned may still hold the hook manager's and onemonitord's ports.
 * Like the stock `one start` (share/scripts/one: "Stale .lock detected. Erasing it."), the lock is
 * removed when no oned of this prefix runs; orphaned drivers of this prefix are stopped. An oned of
 * this prefix that is not the recorded one is left alone and reported.
 */
async function clearStaleStart(l: OneLayout, log: Logger, onProgress: (m: string) => void): Promise<void> {
  const oned = join(l.prefix, 'bin', 'oned');
  const others = processesMatching(oned).filter((pid) => (commandLine(pid) ?? '').split(' ')[0] === oned);
  if (others.length > 0) {
    throw new EnvironmentError(`an oned of ${l.prefix} runs (pid ${others.join(', ')}) that ${l.stateFile} does not record`, [`stop it (kill ${others.join(' ')}) and run up again`]);
  }
  if (existsSync(l.lockFile)) {
    onProgress(`stale oned lock ${l.lockFile} (the last oned did not stop cleanly): removed`);
    log.warn({ lockFile: l.lockFile }, 'stale oned lock removed');
    rmSync(l.lockFile, { force: true });
  }
  const mads = `${join(l.prefix, 'lib', 'mads')}/`;
  for (const pid of processesMatching(mads)) {
    const argv = (commandLine(pid) ?? '').split(' ');
    if (!argv.slice(0, 2).some((w) => w.startsWith(mads))) continue;
    const result = await stop(pid, mads, 5_000);
    log.warn({ pid, program: argv.find((w) => w.startsWith(mads)), result }, 'driver of the previous oned stopped');
  }
}

/** oned recorded as running: its API's version, or null once the process has gone (it was stopping). */
async function runningVersion(client: OneClient, pid: number, l: OneLayout, timeoutMs: number): Promise<string | null> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (!isRunning(pid, join(l.prefix, 'bin', 'oned'))) return null;
    try {
      return await client.version();
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(500);
  }
  throw new EnvironmentError(`oned (pid ${pid}) runs but its API does not answer after ${timeoutMs / 1000} s`, [last, tail(join(l.var, 'oned.log'))]);
}

/** Datastores 0 (system) and 1 (images) on the dummy drivers; `hosts` dummy hosts, MONITORED. */
async function populate(client: OneClient, state: OneState, hosts: number, log: Logger, onProgress: (m: string) => void): Promise<void> {
  if (!state.initialized.includes('datastores')) {
    await client.datastoreUpdate(0, 'TM_MAD = "dummy"');
    await client.datastoreUpdate(1, 'DS_MAD = "dummy"\nTM_MAD = "dummy"');
    state.initialized.push('datastores');
  }
  const existing = new Set((await client.hostPool()).map((h) => h.NAME));
  for (let i = 0; i < hosts; i++) {
    if (existing.has(hostName(i))) continue;
    const id = await client.hostAllocate(hostName(i), 'dummy', 'dummy', -1);
    log.info({ host: hostName(i), id }, 'host created');
  }
  onProgress(`waiting for ${hosts} dummy host(s) to be MONITORED`);
  await waitForHosts(client, hosts, HOSTS_WAIT_MS);
}

export async function waitForHosts(client: OneClient, n: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pool = await client.hostPool();
    const monitored = pool.filter((h) => h.STATE === HOST_STATE.MONITORED).length;
    if (monitored >= n) return;
    const failed = pool.filter((h) => h.STATE === HOST_STATE.ERROR).map((h) => h.NAME);
    if (Date.now() > deadline) throw new EnvironmentError(`only ${monitored} of ${n} hosts MONITORED after ${timeoutMs / 1000} s${failed.length ? ` (ERROR: ${failed.join(', ')})` : ''}`);
    await sleep(500);
  }
}

async function upEndpoint(o: UpOptions, l: OneLayout): Promise<RunningFrontEnd> {
  if (o.prefix || o.source || o.port !== undefined) throw new InputError('--endpoint uses an existing front-end: --prefix, --source and --port do not apply');
  if (!o.credentials) throw new InputError('--endpoint needs --credentials FILE (user:password, the ONE_AUTH format, or JSON {username, password})');
  let endpoint: string;
  try {
    endpoint = new URL(o.endpoint!).toString();
  } catch {
    throw new InputError(`--endpoint ${o.endpoint}: not a URL (http://host:2633/RPC2)`);
  }
  const file = resolve(o.credentials);
  if (!existsSync(file)) throw new InputError(`--credentials ${file}: no such file`);
  const credentials = parseCredentialsText(readFileSync(file, 'utf8'), endpoint, file);
  const client = adminClient(credentials);
  let version: string;
  try {
    version = await client.version();
    await client.userInfo(-1);
  } catch (err) {
    if (err instanceof OneError && err.errorName === 'AUTHENTICATION') throw new InputError(`${endpoint}: the credentials in ${file} are refused (AUTHENTICATION)`);
    throw new EnvironmentError(`no OpenNebula answering at ${endpoint}: ${(err as Error).message}`);
  } finally {
    await client.close();
  }
  mkdirSync(l.stateDir, { recursive: true });
  const state: OneState = { version: 1, mode: 'endpoint', endpoint, hosts: o.hosts ?? 0, initialized: [], pids: {} };
  writeCredentials(l.credentialsFile, credentials);
  writeOneState(l.stateFile, state);
  return { layout: l, state, credentials, version };
}

export async function up(o: UpOptions): Promise<RunningFrontEnd> {
  const l = oneLayout(o.stateDir);
  const log = o.logger;
  const previous = readOneState(l.stateFile);
  const wanted = o.endpoint ? 'endpoint' : o.prefix ? 'prefix' : 'local';
  if (previous && previous.mode !== wanted) {
    throw new InputError(`${l.stateDir} holds a front-end set up in ${previous.mode} mode, not ${wanted}`, [`use another --state, or \`edgeplane down opennebula --state ${o.stateDir}\` and remove ${l.stateDir}`]);
  }
  if (o.endpoint) return upEndpoint(o, l);
  if (o.prefix && o.source) throw new InputError('--prefix uses an installed OpenNebula: --source does not apply');
  if (o.credentials) throw new InputError('--credentials goes with --endpoint');
  // before anything is written: --prefix names an installation in one of the two layouts
  const installed = o.prefix ? detectInstallation(o.prefix) : undefined;
  mkdirSync(l.logs, { recursive: true });
  const base = o.port ?? previous?.portBase ?? DEFAULT_PORT;
  if (previous?.portBase !== undefined && base !== previous.portBase && isRunning(previous.pids.oned, markerOf(l, 'oned'))) {
    throw new InputError(`the front-end in ${l.stateDir} runs on port ${previous.portBase}; \`down\` it before changing --port`);
  }
  const ports = portsFrom(base);
  const hosts = o.hosts ?? previous?.hosts ?? DEFAULT_HOSTS;
  const endpoint = `http://127.0.0.1:${ports.oned}/RPC2`;
  const state: OneState = previous ?? { version: 1, mode: wanted, endpoint, hosts, initialized: [], pids: {} };
  state.portBase = base;
  state.endpoint = endpoint;
  state.hosts = hosts;
  state.schedIntervalS = TESTBED_SCHED_INTERVAL_S;

  // the prefix: from the build cache (built when the tarball is new) or the user's installation
  let source: Installation;
  if (installed) {
    source = installed;
    log.info({ kind: installed.kind, root: installed.root }, 'installed OpenNebula');
  } else {
    const cache = await ensureBuild(o.source ?? defaultSource(), { log, onProgress: o.onProgress, logFile: join(l.logs, 'build.log') });
    state.source = { tarball: cache.tarball, sha256: cache.sha256, cacheDir: cache.dir };
    source = selfContainedPrefix(cache.prefix);
  }
  const from = installationId(source);
  let onedUp = isRunning(state.pids.oned, markerOf(l, 'oned'));
  if (!existsSync(l.prefix) || (state.prefixFrom !== undefined && state.prefixFrom !== from && !onedUp)) {
    if (existsSync(l.prefix)) {
      o.onProgress(`the prefix came from ${state.prefixFrom}: replacing it (its database goes too)`);
      await execa('rm', ['-rf', l.prefix]);
      state.initialized = [];
    }
    await copyPrefix(source, l, o.onProgress);
  }
  state.prefixFrom = from;
  mkdirSync(l.remoteScripts, { recursive: true });
  writeSshConfig(l.sshConfig, null);
  writeConfigs(l, base, TESTBED_SCHED_INTERVAL_S);
  if (!existsSync(l.oneAuth)) writeFileSync(l.oneAuth, `oneadmin:${randomBytes(12).toString('hex')}\n`, { mode: 0o600 });
  const [username, password] = readFileSync(l.oneAuth, 'utf8').trim().split(':') as [string, string];
  const credentials: OneCredentials = { endpoint, username, password };
  writeCredentials(l.credentialsFile, credentials);
  writeFileSync(
    l.envFile,
    `# source this to use the OpenNebula CLI of ${l.stateDir}\nexport ONE_LOCATION=${l.prefix} ONE_AUTH=${l.oneAuth} ONE_XMLRPC=${endpoint}\nexport PATH=$ONE_LOCATION/bin:$PATH RUBYLIB=$ONE_LOCATION/lib/ruby\n`,
  );
  const env = daemonEnv(l, endpoint);
  const client = adminClient(credentials);
  try {
    let version: string | null = null;
    // recorded as running: it answers, or it was stopping (SIGTERM: oned stops its drivers, ~8 s) and goes
    if (onedUp) version = await runningVersion(client, state.pids.oned!, l, API_WAIT_MS);
    onedUp = version !== null;
    if (version === null) {
      await clearStaleStart(l, log, o.onProgress);
      for (const p of [ports.oned, ports.hookPub, ports.hookRep, ports.monitord]) {
        if (await portOpen(p)) throw new EnvironmentError(`port ${p} is in use (another service): choose another --port base`);
      }
      state.firstBootstrap = !existsSync(join(l.var, 'one.db'));
      o.onProgress(`starting oned on ${endpoint}${state.firstBootstrap ? ' (first bootstrap)' : ''}`);
      const t0 = performance.now();
      state.pids.oned = startDetached(join(l.prefix, 'bin', 'oned'), ['-f'], { log: join(l.logs, 'oned.stdout'), env, cwd: l.var });
      writeOneState(l.stateFile, state);
      version = await waitForApi(client, state.pids.oned, l, API_WAIT_MS);
      state.coldStartMs = Math.round(performance.now() - t0);
      state.startedAt = new Date().toISOString();
      log.info({ coldStartMs: state.coldStartMs, version }, 'oned up');
    }
    if (!isRunning(state.pids.mm_sched, markerOf(l, 'mm_sched'))) {
      state.pids.mm_sched = startDetached(join(l.prefix, 'bin', 'mm_sched'), [], { log: join(l.logs, 'sched.stdout'), env, cwd: l.var });
      writeOneState(l.stateFile, state);
    }
    const t1 = performance.now();
    await populate(client, state, hosts, log, o.onProgress);
    if (!onedUp) state.readyMs = Math.round((state.coldStartMs ?? 0) + performance.now() - t1);
    await startEdgeServices(l, state, ports.edge, credentials, o.onProgress);
    writeOneState(l.stateFile, state);
    return { layout: l, state, credentials, version };
  } finally {
    await client.close();
  }
}

export interface StopResult {
  name: string;
  pid: number | null;
  result: string;
}

export async function down(stateDir: string): Promise<StopResult[]> {
  const l = oneLayout(stateDir);
  const state = readOneState(l.stateFile);
  if (!state) return [];
  if (state.mode === 'endpoint') return [{ name: 'endpoint', pid: null, result: `nothing started (an existing front-end at ${state.endpoint})` }];
  const out: StopResult[] = [];
  for (const d of ['edge-services', 'mm_sched', 'oned'] as const) {
    const pid = state.pids[d];
    if (pid === undefined) continue;
    out.push({ name: d, pid, result: await stop(pid, markerOf(l, d), d === 'oned' ? 30_000 : 10_000) });
    delete state.pids[d];
  }
  // the dummy IM's monitoring client (detached by its driver) and any driver that outlived oned:
  // their command lines name our remote-scripts folder or our prefix
  for (const marker of [l.remoteScripts, `${l.prefix}/`]) {
    for (const pid of processesMatching(marker)) {
      const cmd = commandLine(pid) ?? '';
      // only programs run from there (argv[0] or the script a ruby/sh/env runs), not e.g. a `tail` of a log
      if (
        !cmd
          .split(' ')
          .slice(0, 3)
          .some((w) => w.startsWith(marker))
      )
        continue;
      const name = cmd.includes('monitord-client')
        ? 'monitord-client'
        : (cmd
            .split(' ')
            .find((w) => w.includes(l.prefix))
            ?.split('/')
            .pop() ?? 'driver');
      out.push({ name, pid, result: await stop(pid, marker, 5_000) });
    }
  }
  writeOneState(l.stateFile, state);
  return out;
}

/** the dummy IM's detached monitoring clients of this front-end (run from the prefix's remotes or the remote-scripts folder) */
export function monitordClients(l: OneLayout): number[] {
  return [...new Set([...processesMatching(join(l.prefix, 'var', 'remotes')), ...processesMatching(l.remoteScripts)])].filter((pid) => (commandLine(pid) ?? '').includes('monitord-client')).sort((a, b) => a - b);
}

export interface FrontEndStatus {
  exists: boolean;
  stateDir: string;
  mode?: OneState['mode'];
  endpoint?: string;
  version?: string;
  api: { healthy: boolean; detail: string };
  daemons: { name: string; pid: number | null; running: boolean }[];
  monitordClients: number[];
  hosts: { name: string; state: number }[];
}

export async function status(stateDir: string): Promise<FrontEndStatus> {
  const l = oneLayout(stateDir);
  const state = readOneState(l.stateFile);
  const credentials = readCredentials(l.credentialsFile);
  if (!state || !credentials) return { exists: false, stateDir: l.stateDir, api: { healthy: false, detail: 'no front-end here' }, daemons: [], monitordClients: [], hosts: [] };
  const daemons = state.mode === 'endpoint' ? [] : (['oned', 'mm_sched', 'edge-services'] as const).map((d) => ({ name: d, pid: state.pids[d] ?? null, running: isRunning(state.pids[d], markerOf(l, d)) }));
  const client = adminClient(credentials, { timeoutMs: 5_000 });
  let api = { healthy: false, detail: '' };
  let version: string | undefined;
  let hosts: { name: string; state: number }[] = [];
  try {
    version = await client.version();
    hosts = (await client.hostPool()).map((h) => ({ name: h.NAME, state: h.STATE }));
    api = { healthy: true, detail: `OpenNebula ${version}` };
  } catch (err) {
    api = { healthy: false, detail: (err as Error).message };
  } finally {
    await client.close();
  }
  return { exists: true, stateDir: l.stateDir, mode: state.mode, endpoint: state.endpoint, version, api, daemons, monitordClients: monitordClients(l), hosts };
}
