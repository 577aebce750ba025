// `edgeplane up|down|status openstack`: a real minimal control plane (MariaDB, Keystone, Glance,
// Barbican; with --with-ceph also a one-node Ceph for Glance's RBD store) from the distribution's
// packages, on loopback, all state under one directory.
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { execa } from 'execa';
import { EnvironmentError, InputError, silentLogger, type Logger } from '../../common/index.js';
import { bootstrapCatalog } from './catalog.js';
import { CEPH_COMMANDS, cephDaemonRunning, cephHealth, checkCephPorts, startCeph, type CephHealth } from './ceph.js';
import {
  databaseSetupSql,
  keystoneUwsgiArgs,
  mariadbArgs,
  renderBarbicanConf,
  renderBarbicanPaste,
  renderBarbicanUwsgi,
  renderCephConf,
  renderGlanceConf,
  renderGlancePolicy,
  renderKeystoneConf,
  type ConfigInputs,
} from './configs.js';
import {
  CEPH_DAEMONS,
  cephPortsFrom,
  DEFAULT_CEPH_PORT_BASE,
  DEFAULT_MEMSTORE_BYTES,
  DEFAULT_PORTS,
  DEFAULT_STATE_DIR,
  endpointsFor,
  SERVICES,
  stackLayout,
  TEST_PASSWORD_HASH_ROUNDS,
  type CephDaemonName,
  type ServiceName,
  type StackLayout,
  type StackPorts,
  type StackServiceName,
} from './layout.js';
import { ensurePackages } from './packages.js';
import { isOurProcess, isPortFree, sleep, spawnDetached, stopProcess } from './processes.js';
import { readStackState, writeStackState, type StackState } from './state.js';

export interface UpOptions {
  stateDir?: string;
  ports?: Partial<StackPorts>;
  /**
   * Glance on Ceph RBD: also run a one-node Ceph (mon, mgr, memstore OSD, RGW) under the state dir.
   * Fixed when the state dir is first set up; a later `up` keeps what the state dir has.
   */
  withCeph?: boolean;
  /** Ceph's ports: mon v1 = base, mon v2 = base+1, RGW = base+2, daemons in base+11..base+110 (default 26789) */
  cephPortBase?: number;
  /** memstore cap of the OSD in bytes (default 2 GiB; RAM holds up to ~2x the stored data) */
  memstoreBytes?: number;
  /** worker processes per API service (default 2: the machines have 2 cores) */
  workers?: number;
  passwordHashRounds?: number;
  logger?: Logger;
  onProgress?: (message: string) => void;
  /** how long each service may take to become healthy */
  healthTimeoutMs?: number;
}

export interface StackEndpoints {
  identity: string;
  image: string;
  keyManager: string;
}

export interface RunningStack {
  stateDir: string;
  layout: StackLayout;
  state: StackState;
  endpoints: StackEndpoints;
  admin: { username: 'admin'; password: string; projectName: 'admin'; domain: 'Default' };
  /** this call started something (false: everything was already running) */
  started: boolean;
  coldStartMs: number;
}

/** The program each service's pid must still be running (guards `down` against pid reuse). */
export const SERVICE_COMMANDS: Record<ServiceName, string> = {
  mariadb: 'mariadbd',
  keystone: 'keystone-wsgi-public',
  glance: 'glance-api',
  barbican: 'barbican-api-uwsgi.ini',
};

/** The WHATWG fetch "bad ports" in the ranges a user might pick for these services. */
const FETCH_BLOCKED_PORTS = new Set([1719, 1720, 1723, 2049, 3659, 4045, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6697, 10080]);

const secret = (bytes = 18): string => randomBytes(bytes).toString('base64url');

function newState(ports: StackPorts, rounds: number, opts: UpOptions): StackState {
  const withCeph = opts.withCeph === true;
  return {
    version: 1,
    ports,
    secrets: {
      adminPassword: secret(),
      dbPassword: secret(),
      glancePassword: secret(),
      barbicanPassword: secret(),
      barbicanKek: randomBytes(32).toString('base64'),
    },
    passwordHashRounds: rounds,
    withCeph,
    ...(withCeph ? { ceph: { fsid: randomUUID(), osdUuid: randomUUID(), ports: cephPortsFrom(opts.cephPortBase ?? DEFAULT_CEPH_PORT_BASE), memstoreBytes: opts.memstoreBytes ?? DEFAULT_MEMSTORE_BYTES } } : {}),
    initialized: [],
    pids: {},
  };
}

/** The recorded pid still runs that service from this state dir (guards against pid reuse). */
export function serviceRunning(state: StackState, name: ServiceName, root: string): boolean {
  const pid = state.pids[name];
  return pid !== undefined && isOurProcess(pid, SERVICE_COMMANDS[name]) && isOurProcess(pid, root);
}

export async function up(opts: UpOptions = {}): Promise<RunningStack> {
  const began = performance.now();
  const log = opts.logger ?? silentLogger;
  const progress = opts.onProgress ?? (() => {});
  const stateDir = opts.stateDir ?? DEFAULT_STATE_DIR;
  const layout = stackLayout(stateDir);
  if (opts.memstoreBytes !== undefined && (!Number.isInteger(opts.memstoreBytes) || opts.memstoreBytes < 64 * 1024 ** 2)) {
    throw new InputError('--with-ceph: the memstore cap must be a whole number of bytes, at least 64 MiB');
  }
  if (opts.cephPortBase !== undefined && (!Number.isInteger(opts.cephPortBase) || opts.cephPortBase < 1024 || opts.cephPortBase + 110 > 65535)) {
    throw new InputError('--ceph-port-base must leave room for 111 ports between 1024 and 65535');
  }
  const recorded = readStackState(layout.stateFile);
  if (recorded && opts.withCeph && !recorded.withCeph) {
    throw new InputError(`--with-ceph: the stack in ${layout.root} was set up with Glance on its file store`, [
      'its images and Glance database belong to that store; run `edgeplane down` and use a new --state directory for a stack on Ceph',
    ]);
  }
  const withCeph = recorded ? recorded.withCeph : opts.withCeph === true;
  await ensurePackages(log, withCeph);

  for (const d of [
    layout.root,
    layout.logDir,
    layout.runDir,
    layout.mariadb.dir,
    layout.keystone.dir,
    layout.glance.dir,
    layout.glance.imagesDir,
    layout.glance.stagingDir,
    layout.glance.tasksDir,
    layout.glance.lockDir,
    layout.barbican.dir,
  ]) {
    mkdirSync(d, { recursive: true, mode: 0o700 });
  }
  const previous = recorded;
  const ports: StackPorts = { ...(previous?.ports ?? DEFAULT_PORTS), ...definedPorts(opts.ports) };
  if (previous && JSON.stringify(previous.ports) !== JSON.stringify(ports)) {
    throw new InputError(`state dir ${layout.root} was set up with ports ${JSON.stringify(previous.ports)}`, [
      'the Keystone catalog holds those ports; run `edgeplane down` and use a new --state directory to change them',
    ]);
  }
  if (previous?.ceph && opts.cephPortBase !== undefined && previous.ceph.ports.monV1 !== opts.cephPortBase) {
    throw new InputError(`state dir ${layout.root} was set up with Ceph on ports ${JSON.stringify(previous.ceph.ports)}`, [
      'the monitor map holds those ports; run `edgeplane down` and use a new --state directory to change them',
    ]);
  }
  const state = previous ?? newState(ports, opts.passwordHashRounds ?? TEST_PASSWORD_HASH_ROUNDS, opts);
  if (state.withCeph && !state.ceph) throw new EnvironmentError(`${layout.stateFile} says Ceph is in use but records no cluster`, ['use a new --state directory']);
  const save = () => writeStackState(layout.stateFile, state);
  save();

  const inputs: ConfigInputs = {
    layout,
    ports,
    dbPassword: state.secrets.dbPassword,
    glancePassword: state.secrets.glancePassword,
    barbicanPassword: state.secrets.barbicanPassword,
    barbicanKek: state.secrets.barbicanKek,
    passwordHashRounds: state.passwordHashRounds,
    workers: opts.workers ?? 2,
    ...(state.ceph ? { ceph: state.ceph } : {}),
  };
  writeConfigs(inputs);

  for (const [name, p] of Object.entries(ports)) {
    if (FETCH_BLOCKED_PORTS.has(p)) throw new InputError(`port ${p} for ${name} is one that HTTP clients (fetch) refuse to connect to; pick another`);
  }
  const toStart = SERVICES.filter((s) => !serviceRunning(state, s, layout.root));
  for (const s of toStart) {
    const port = ports[s];
    if (!(await isPortFree(port))) {
      throw new EnvironmentError(`port ${port} for ${s} is in use by another program`, [`pick another one, e.g. --${s === 'mariadb' ? 'db' : s}-port ${port + 10000}`]);
    }
  }
  if (inputs.ceph && FETCH_BLOCKED_PORTS.has(inputs.ceph.ports.rgw)) {
    throw new InputError(`port ${inputs.ceph.ports.rgw} for radosgw is one that HTTP clients (fetch) refuse to connect to; pick another --ceph-port-base`);
  }
  await checkCephPorts(inputs, state);
  const endpoints = endpointsFor(ports);
  const healthTimeout = opts.healthTimeoutMs ?? 60_000;
  const once = async (step: string, fn: () => Promise<unknown>) => {
    if (state.initialized.includes(step)) return;
    const t = performance.now();
    await fn();
    state.initialized.push(step);
    save();
    log.info({ step, ms: Math.round(performance.now() - t) }, 'initialised');
  };
  const user = userInfo().username;
  const group = (await execa('id', ['-gn'])).stdout.trim();

  // ---- Ceph (with --with-ceph): needs nothing from the rest, so it starts alongside ----
  const cephToStart = inputs.ceph ? CEPH_DAEMONS.filter((d) => !cephDaemonRunning(state, d, layout.root)) : [];
  const cephStarted: Promise<unknown> = inputs.ceph
    ? startCeph({ inputs, state, save, once, progress, timeoutMs: Math.max(healthTimeout, 90_000) }).then(
        () => null,
        (err: unknown) => err,
      )
    : Promise.resolve(null);
  try {
    await startOpenStack();
  } catch (err) {
    // let the Ceph start finish recording its pids, so that `down` can stop them
    await cephStarted;
    throw err;
  }

  async function startOpenStack(): Promise<void> {
    // ---- MariaDB ----
    if (toStart.includes('mariadb')) {
      await once('mariadb.install_db', async () => {
        progress('mariadb: creating the data directory');
        await run('mariadb-install-db', ['--no-defaults', `--datadir=${layout.mariadb.dataDir}`, `--user=${user}`, '--auth-root-authentication-method=normal', '--skip-test-db', '--skip-name-resolve'], layout);
      });
      progress(`mariadb: starting on 127.0.0.1:${ports.mariadb}`);
      state.pids.mariadb = spawnDetached('/usr/sbin/mariadbd', mariadbArgs(inputs, user), { log: layout.mariadb.log });
      save();
      await waitFor('mariadb', healthTimeout, state, layout.root, async () => (await execa('mariadb-admin', ['--no-defaults', `--socket=${layout.mariadb.socket}`, '-uroot', 'ping'], { reject: false })).exitCode === 0);
    }
    await once('mariadb.databases', () => run('mariadb', ['--no-defaults', `--socket=${layout.mariadb.socket}`, '-uroot'], layout, databaseSetupSql(inputs)));

    // ---- schemas: the three migrations in parallel (they only need the database) ----
    const keystoneManage = (...args: string[]) => run('keystone-manage', ['--config-file', layout.keystone.conf, ...args], layout);
    const barbicanEnv = { HOME: layout.barbican.dir };
    await Promise.all([
      once('keystone.db_sync', async () => {
        progress('keystone: database schema, fernet and credential keys, bootstrap');
        await keystoneManage('db_sync');
        await keystoneManage('fernet_setup', '--keystone-user', user, '--keystone-group', group);
        await keystoneManage('credential_setup', '--keystone-user', user, '--keystone-group', group);
      }).then(() =>
        once('keystone.bootstrap', () =>
          keystoneManage(
            'bootstrap',
            '--bootstrap-password',
            state.secrets.adminPassword,
            '--bootstrap-admin-url',
            endpoints.identity,
            '--bootstrap-internal-url',
            endpoints.identity,
            '--bootstrap-public-url',
            endpoints.identity,
            '--bootstrap-region-id',
            'RegionOne',
          ),
        ),
      ),
      once('glance.db_sync', () => run('glance-manage', ['--config-file', layout.glance.conf, 'db_sync'], layout)),
      once('barbican.db_upgrade', () => run('barbican-manage', ['db', 'upgrade'], layout, undefined, barbicanEnv)),
    ]);

    // ---- Keystone ----
    if (toStart.includes('keystone')) {
      progress(`keystone: starting on ${endpoints.identity}`);
      state.pids.keystone = spawnDetached('uwsgi', keystoneUwsgiArgs(inputs), { log: layout.keystone.log.replace(/\.log$/, '-uwsgi.log') });
      save();
      await waitFor('keystone', healthTimeout, state, layout.root, () => httpOk(`${endpoints.identity}`, (s) => s === 200));
    }
    await once('keystone.catalog', async () => {
      progress('keystone: service users, services and endpoints');
      await bootstrapCatalog({
        identityUrl: endpoints.identity,
        adminPassword: state.secrets.adminPassword,
        serviceUsers: [
          { name: 'glance', password: state.secrets.glancePassword },
          { name: 'barbican', password: state.secrets.barbicanPassword },
        ],
        services: [
          { type: 'image', name: 'glance', url: endpoints.image },
          { type: 'key-manager', name: 'barbican', url: endpoints.keyManager },
        ],
      });
    });

    // ---- Barbican, and Glance (on Ceph RBD: once Ceph is up) ----
    if (toStart.includes('barbican')) {
      progress(`barbican: starting on ${endpoints.keyManager}`);
      state.pids.barbican = spawnDetached('uwsgi', ['--ini', layout.barbican.uwsgiIni], { log: layout.barbican.log.replace(/\.log$/, '-uwsgi.log'), env: barbicanEnv, cwd: layout.barbican.dir });
      save();
    }
    const cephError = await cephStarted;
    if (cephError) throw cephError;
    if (toStart.includes('glance')) {
      progress(`glance: starting on ${endpoints.image}`);
      state.pids.glance = spawnDetached('glance-api', ['--config-file', layout.glance.conf], { log: layout.glance.log.replace(/\.log$/, '-stdout.log') });
      save();
    }
    await Promise.all([
      waitFor('glance', healthTimeout, state, layout.root, () => httpOk(`${endpoints.image}/healthcheck`, (s) => s === 200)),
      waitFor('barbican', healthTimeout, state, layout.root, () => httpOk(`${endpoints.keyManager}/`, (s) => s < 500)),
    ]);
  }

  writeOpenrc(layout, endpoints, state.secrets.adminPassword);
  const started = toStart.length > 0 || cephToStart.length > 0;
  const coldStartMs = Math.round(performance.now() - began);
  if (started) {
    state.startedAt = new Date().toISOString();
    state.coldStartMs = coldStartMs;
  }
  save();
  return {
    stateDir: layout.root,
    layout,
    state,
    endpoints,
    admin: { username: 'admin', password: state.secrets.adminPassword, projectName: 'admin', domain: 'Default' },
    started,
    coldStartMs,
  };
}

/** A stack already started by `up` (e.g. by .ci/run), without starting anything. */
export function loadStack(stateDir: string): RunningStack {
  const layout = stackLayout(stateDir);
  const state = readStackState(layout.stateFile);
  if (!state) throw new EnvironmentError(`no OpenStack stack in ${layout.root} (run \`edgeplane up openstack --state ${stateDir}\`)`);
  const down: StackServiceName[] = SERVICES.filter((s) => !serviceRunning(state, s, layout.root));
  if (state.withCeph) down.push(...CEPH_DAEMONS.filter((d) => !cephDaemonRunning(state, d, layout.root)));
  if (down.length) throw new EnvironmentError(`OpenStack stack in ${layout.root}: not running: ${down.join(', ')}`, ['run `edgeplane up openstack` again']);
  return {
    stateDir: layout.root,
    layout,
    state,
    endpoints: endpointsFor(state.ports),
    admin: { username: 'admin', password: state.secrets.adminPassword, projectName: 'admin', domain: 'Default' },
    started: false,
    coldStartMs: state.coldStartMs ?? 0,
  };
}

export interface ServiceStatus {
  name: StackServiceName;
  pid: number | null;
  running: boolean;
  healthy: boolean;
  url: string;
}

export interface StackStatus {
  stateDir: string;
  exists: boolean;
  services: ServiceStatus[];
  passwordHashRounds: number | null;
  coldStartMs: number | null;
  openrc: string | null;
  /** Glance on Ceph RBD: the cluster's config file and its last start time */
  ceph: { conf: string; startMs: number | null } | null;
}

export async function status(stateDir: string = DEFAULT_STATE_DIR): Promise<StackStatus> {
  const layout = stackLayout(stateDir);
  const state = readStackState(layout.stateFile);
  if (!state) return { stateDir: layout.root, exists: false, services: [], passwordHashRounds: null, coldStartMs: null, openrc: null, ceph: null };
  const endpoints = endpointsFor(state.ports);
  const probes: Record<ServiceName, { url: string; ok: () => Promise<boolean> }> = {
    mariadb: { url: `mysql://127.0.0.1:${state.ports.mariadb}`, ok: async () => !(await isPortFree(state.ports.mariadb)) },
    keystone: { url: endpoints.identity, ok: () => httpOk(endpoints.identity, (s) => s === 200) },
    glance: { url: endpoints.image, ok: () => httpOk(`${endpoints.image}/healthcheck`, (s) => s === 200) },
    barbican: { url: endpoints.keyManager, ok: () => httpOk(`${endpoints.keyManager}/`, (s) => s < 500) },
  };
  const services: ServiceStatus[] = await Promise.all(
    SERVICES.map(async (name) => {
      const running = serviceRunning(state, name, layout.root);
      return { name, pid: state.pids[name] ?? null, running, healthy: running && (await probes[name].ok()), url: probes[name].url };
    }),
  );
  if (state.ceph) {
    const c = state.ceph;
    const health: CephHealth = CEPH_DAEMONS.some((d) => cephDaemonRunning(state, d, layout.root)) ? await cephHealth(layout, c.ports.rgw) : { monQuorum: false, mgrAvailable: false, osdsUp: 0, rgwAnswering: false };
    const cephProbes: Record<CephDaemonName, { url: string; ok: boolean }> = {
      'ceph-mon': { url: `v2:127.0.0.1:${c.ports.mon} v1:127.0.0.1:${c.ports.monV1}`, ok: health.monQuorum },
      'ceph-mgr': { url: `mgr.a (${layout.ceph.conf})`, ok: health.mgrAvailable },
      'ceph-osd': { url: `osd.0 memstore ${Math.round(c.memstoreBytes / 1024 ** 2)} MiB`, ok: health.osdsUp >= 1 },
      radosgw: { url: `http://127.0.0.1:${c.ports.rgw}`, ok: health.rgwAnswering },
    };
    for (const name of CEPH_DAEMONS) {
      const running = cephDaemonRunning(state, name, layout.root);
      services.push({ name, pid: state.pids[name] ?? null, running, healthy: running && cephProbes[name].ok, url: cephProbes[name].url });
    }
  }
  return {
    stateDir: layout.root,
    exists: true,
    services,
    passwordHashRounds: state.passwordHashRounds,
    coldStartMs: state.coldStartMs ?? null,
    openrc: existsSync(layout.openrc) ? layout.openrc : null,
    ceph: state.ceph ? { conf: layout.ceph.conf, startMs: state.cephStartMs ?? null } : null,
  };
}

/**
 * Stop exactly the processes `up` started (by pid, checked against their command line): the
 * OpenStack services in reverse start order, then Ceph's daemons (after Glance, their client),
 * gateway first and monitor last (an OSD stopping tells the monitor).
 */
export async function down(stateDir: string = DEFAULT_STATE_DIR): Promise<{ name: StackServiceName; pid: number; result: string }[]> {
  const layout = stackLayout(stateDir);
  const state = readStackState(layout.stateFile);
  if (!state) return [];
  const stopped: { name: StackServiceName; pid: number; result: string }[] = [];
  const order: StackServiceName[] = ['barbican', 'glance', ...[...CEPH_DAEMONS].reverse(), 'keystone', 'mariadb'];
  for (const name of order) {
    const pid = state.pids[name];
    if (pid === undefined) continue;
    const isCeph = (CEPH_DAEMONS as readonly string[]).includes(name);
    const ours = isCeph ? cephDaemonRunning(state, name as CephDaemonName, layout.root) : serviceRunning(state, name as ServiceName, layout.root);
    // the memstore OSD writes its objects to disk on the way down: give it longer
    const grace = name === 'ceph-osd' ? 60_000 : 15_000;
    const command = isCeph ? CEPH_COMMANDS[name as CephDaemonName] : SERVICE_COMMANDS[name as ServiceName];
    stopped.push({ name, pid, result: ours ? await stopProcess(pid, command, grace) : 'notRunning' });
    delete state.pids[name];
    writeStackState(layout.stateFile, state);
  }
  return stopped;
}

function definedPorts(p: Partial<StackPorts> | undefined): Partial<StackPorts> {
  return Object.fromEntries(Object.entries(p ?? {}).filter(([, v]) => v !== undefined)) as Partial<StackPorts>;
}

function writeConfigs(inputs: ConfigInputs): void {
  const { layout } = inputs;
  const write = (file: string, text: string) => writeFileSync(file, text, { mode: 0o600 });
  write(layout.keystone.conf, renderKeystoneConf(inputs));
  write(layout.glance.conf, renderGlanceConf(inputs));
  write(layout.glance.policyFile, renderGlancePolicy());
  write(layout.barbican.conf, renderBarbicanConf(inputs));
  write(layout.barbican.pasteIni, renderBarbicanPaste(inputs));
  write(layout.barbican.uwsgiIni, renderBarbicanUwsgi(inputs));
  if (inputs.ceph) {
    mkdirSync(layout.ceph.dir, { recursive: true, mode: 0o700 });
    write(layout.ceph.conf, renderCephConf(inputs));
  }
}

function writeOpenrc(layout: StackLayout, endpoints: StackEndpoints, adminPassword: string): void {
  const lines = [
    '# written by `edgeplane up openstack`: source it to use the openstack CLI against this stack',
    `export OS_AUTH_URL=${endpoints.identity}`,
    'export OS_IDENTITY_API_VERSION=3',
    'export OS_USERNAME=admin',
    `export OS_PASSWORD='${adminPassword}'`,
    'export OS_PROJECT_NAME=admin',
    'export OS_USER_DOMAIN_NAME=Default',
    'export OS_PROJECT_DOMAIN_NAME=Default',
    'export OS_REGION_NAME=RegionOne',
    'export OS_INTERFACE=public',
  ];
  writeFileSync(layout.openrc, `${lines.join('\n')}\n`, { mode: 0o600 });
}

async function run(cmd: string, args: string[], layout: StackLayout, input?: string, env?: Record<string, string>): Promise<void> {
  const res = await execa(cmd, args, { input, env, reject: false, all: true });
  if (res.exitCode !== 0) {
    const tail = (res.all ?? '').split('\n').filter(Boolean).slice(-8);
    throw new EnvironmentError(
      `${cmd} ${args
        .filter((a) => !a.includes('password'))
        .slice(0, 3)
        .join(' ')} failed (exit ${res.exitCode})`,
      [...tail, `logs: ${layout.logDir}`],
    );
  }
}

async function httpOk(url: string, accept: (status: number) => boolean): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3_000) });
    await res.arrayBuffer();
    return accept(res.status);
  } catch {
    return false;
  }
}

async function waitFor(name: ServiceName, timeoutMs: number, state: StackState, root: string, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ready()) return;
    if (!serviceRunning(state, name, root)) {
      throw new EnvironmentError(`${name} exited during start-up`, [`see the logs under the state dir's logs/ folder`]);
    }
    await sleep(200);
  }
  throw new EnvironmentError(`${name} did not become healthy within ${Math.round(timeoutMs / 1000)} s`, ["see the logs under the state dir's logs/ folder"]);
}
