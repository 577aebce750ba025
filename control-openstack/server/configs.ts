// Pure rendering of every configuration file the local stack runs with. Kept pure so that the
// content can be unit-tested and its line count measured (complexity profile).
import type { CephDaemonName, CephPorts, StackLayout, StackPorts } from './layout.js';

export interface CephConfigInputs {
  fsid: string;
  osdUuid: string;
  ports: CephPorts;
  memstoreBytes: number;
}

export interface ConfigInputs {
  layout: StackLayout;
  ports: StackPorts;
  dbPassword: string;
  glancePassword: string;
  barbicanPassword: string;
  barbicanKek: string;
  passwordHashRounds: number;
  /** uwsgi / glance worker processes per service */
  workers: number;
  /** Glance on Ceph RBD (a one-node cluster under the state dir) instead of the file store */
  ceph?: CephConfigInputs;
}

/** Ceph ids: one monitor, one manager, OSD 0 and one RADOS gateway. */
export const CEPH_IDS = { mon: 'a', mgr: 'a', osd: '0', rgw: 'rgw.a' } as const;
/** The pool Glance stores images in, and the RADOS user it connects as (auth is off: a name only). */
export const GLANCE_RBD_POOL = 'images';
export const GLANCE_RBD_USER = 'glance';

export const DB_USER = 'edgeplane';
export const DATABASES = ['keystone', 'glance', 'barbican'] as const;

type IniSections = Record<string, Record<string, string | number | boolean>>;

export function renderIni(sections: IniSections): string {
  const out: string[] = [];
  for (const [name, entries] of Object.entries(sections)) {
    if (out.length) out.push('');
    out.push(`[${name}]`);
    for (const [k, v] of Object.entries(entries)) out.push(`${k} = ${String(v)}`);
  }
  return `${out.join('\n')}\n`;
}

export function dbUrl(inputs: ConfigInputs, database: (typeof DATABASES)[number]): string {
  return `mysql+pymysql://${DB_USER}:${encodeURIComponent(inputs.dbPassword)}@127.0.0.1:${inputs.ports.mariadb}/${database}?charset=utf8`;
}

function authtoken(inputs: ConfigInputs, username: string, password: string): Record<string, string> {
  const keystone = `http://127.0.0.1:${inputs.ports.keystone}`;
  return {
    www_authenticate_uri: keystone,
    auth_url: keystone,
    auth_type: 'password',
    project_domain_name: 'Default',
    user_domain_name: 'Default',
    project_name: 'service',
    username,
    password,
    // keystonemiddleware caches a validated token per worker for 300 s by default, so a revoked
    // node's token would keep reading images and keys for minutes: revalidate every few seconds
    token_cache_time: String(TOKEN_CACHE_SECONDS),
  };
}

/**
 * How long Glance and Barbican trust a validated token before asking Keystone again (seconds).
 * The trade-off (docs/openstack.md, Isolation): a revoked node is refused within this time; each
 * worker revalidates each token at most once per period (one Keystone call, ~60 ms).
 */
export const TOKEN_CACHE_SECONDS = 2;

/** The operator's role: only it may create, upload, publish, share or delete Glance images. */
export const OPERATOR_ROLE = 'admin';

/** Glance rules that a node (a `member` of its own project) must not pass: every write. */
export const GLANCE_OPERATOR_ONLY_RULES = [
  'add_image',
  'upload_image',
  'modify_image',
  'delete_image',
  'publicize_image',
  'communitize_image',
  'deactivate',
  'reactivate',
  'add_member',
  'modify_member',
  'delete_member',
  'stage_image',
  'import_image',
  'copy_image',
  'set_image_location',
  'delete_image_location',
  'manage_image_cache',
] as const;

/** Glance's policy.yaml: writes restricted to the operator role; reads keep Glance's defaults. */
export function renderGlancePolicy(): string {
  const lines = ['# written by `edgeplane up openstack`: nodes may read what is shared with them, nothing else'];
  for (const rule of GLANCE_OPERATOR_ONLY_RULES) lines.push(`"${rule}": "role:${OPERATOR_ROLE}"`);
  return `${lines.join('\n')}\n`;
}

export function renderKeystoneConf(inputs: ConfigInputs): string {
  const k = inputs.layout.keystone;
  return renderIni({
    DEFAULT: { log_file: k.log, use_stderr: false },
    database: { connection: dbUrl(inputs, 'keystone') },
    token: { provider: 'fernet' },
    fernet_tokens: { key_repository: k.fernetKeys },
    fernet_receipts: { key_repository: k.fernetKeys },
    credential: { key_repository: k.credentialKeys },
    identity: { password_hash_rounds: inputs.passwordHashRounds },
    oslo_concurrency: { lock_path: k.dir },
  });
}

/** uwsgi arguments for Keystone (public WSGI app). */
export function keystoneUwsgiArgs(inputs: ConfigInputs): string[] {
  const k = inputs.layout.keystone;
  return [
    '--plugins',
    'python3',
    '--http-socket',
    `127.0.0.1:${inputs.ports.keystone}`,
    '--wsgi-file',
    '/usr/bin/keystone-wsgi-public',
    '--env',
    `OS_KEYSTONE_CONFIG_FILES=${k.conf}`,
    '--master',
    '--processes',
    String(inputs.workers),
    '--threads',
    '1',
    '--die-on-term',
    '--need-app',
    // http-socket does not keep connections alive; say so, or clients reuse a dead socket
    '--add-header',
    'Connection: close',
    '--buffer-size',
    '65535',
    '--pidfile',
    k.pidFile,
  ];
}

export function renderGlanceConf(inputs: ConfigInputs): string {
  const g = inputs.layout.glance;
  const store: IniSections = inputs.ceph
    ? {
        glance_store: { default_backend: 'rbd' },
        rbd: {
          rbd_store_pool: GLANCE_RBD_POOL,
          rbd_store_ceph_conf: inputs.layout.ceph.conf,
          rbd_store_user: GLANCE_RBD_USER,
          rbd_store_chunk_size: 8,
          rados_connect_timeout: 10,
        },
      }
    : { glance_store: { default_backend: 'file' }, file: { filesystem_store_datadir: `${g.imagesDir}/` } };
  return renderIni({
    DEFAULT: {
      bind_host: '127.0.0.1',
      bind_port: inputs.ports.glance,
      workers: inputs.workers,
      log_file: g.log,
      use_stderr: false,
      enabled_backends: inputs.ceph ? 'rbd:rbd' : 'file:file',
      show_image_direct_url: false,
    },
    database: { connection: dbUrl(inputs, 'glance') },
    ...store,
    os_glance_staging_store: { filesystem_store_datadir: `${g.stagingDir}/` },
    os_glance_tasks_store: { filesystem_store_datadir: `${g.tasksDir}/` },
    // the default paste flavor has no authentication at all
    paste_deploy: { flavor: 'keystone', config_file: '/etc/glance/glance-api-paste.ini' },
    keystone_authtoken: authtoken(inputs, 'glance', inputs.glancePassword),
    oslo_policy: { policy_file: g.policyFile },
    oslo_concurrency: { lock_path: g.lockDir },
  });
}

export function renderBarbicanConf(inputs: ConfigInputs): string {
  const b = inputs.layout.barbican;
  return renderIni({
    DEFAULT: {
      host_href: `http://127.0.0.1:${inputs.ports.barbican}`,
      sql_connection: dbUrl(inputs, 'barbican'),
      db_auto_create: false,
      log_file: b.log,
      use_stderr: false,
    },
    secretstore: { enabled_secretstore_plugins: 'store_crypto' },
    crypto: { enabled_crypto_plugins: 'simple_crypto' },
    simple_crypto_plugin: { kek: inputs.barbicanKek },
    keystone_authtoken: authtoken(inputs, 'barbican', inputs.barbicanPassword),
    oslo_concurrency: { lock_path: b.dir },
  });
}

/** The packaged paste pipeline, trimmed to what we serve and pointing into the state dir. */
export function renderBarbicanPaste(_inputs: ConfigInputs): string {
  return renderIni({
    'composite:main': { use: 'egg:Paste#urlmap', '/': 'barbican_version', '/v1': 'barbican-api-keystone' },
    'pipeline:barbican_version': { pipeline: 'cors http_proxy_to_wsgi microversion versionapp' },
    'pipeline:barbican-api-keystone': { pipeline: 'cors http_proxy_to_wsgi authtoken context microversion apiapp' },
    'app:apiapp': { 'paste.app_factory': 'barbican.api.app:create_main_app' },
    'app:versionapp': { 'paste.app_factory': 'barbican.api.app:create_version_app' },
    'filter:context': { 'paste.filter_factory': 'barbican.api.middleware.context:ContextMiddleware.factory' },
    'filter:microversion': { 'paste.filter_factory': 'barbican.api.middleware.microversion:MicroversionMiddleware.factory' },
    'filter:authtoken': { 'paste.filter_factory': 'keystonemiddleware.auth_token:filter_factory' },
    'filter:cors': { 'paste.filter_factory': 'oslo_middleware.cors:filter_factory', oslo_config_project: 'barbican' },
    'filter:http_proxy_to_wsgi': { 'paste.filter_factory': 'oslo_middleware:HTTPProxyToWSGI.factory' },
  });
}

export function renderBarbicanUwsgi(inputs: ConfigInputs): string {
  const b = inputs.layout.barbican;
  return renderIni({
    uwsgi: {
      plugins: 'python3',
      'http-socket': `127.0.0.1:${inputs.ports.barbican}`,
      paste: `config:${b.pasteIni}`,
      'no-default-app': true,
      'need-app': true,
      master: true,
      processes: inputs.workers,
      threads: 1,
      'die-on-term': true,
      'add-header': 'Connection: close',
      'buffer-size': 65535,
      pidfile: b.pidFile,
      chdir: b.dir,
    },
  });
}

export function mariadbArgs(inputs: ConfigInputs, user: string): string[] {
  const m = inputs.layout.mariadb;
  return [
    '--no-defaults',
    `--datadir=${m.dataDir}`,
    `--socket=${m.socket}`,
    `--port=${inputs.ports.mariadb}`,
    '--bind-address=127.0.0.1',
    `--pid-file=${m.pidFile}`,
    `--log-error=${m.log}`,
    `--user=${user}`,
    '--skip-name-resolve',
    '--innodb-buffer-pool-size=64M',
    '--max-connections=200',
    '--character-set-server=utf8mb4',
  ];
}

/** SQL run once as root over the socket: the three databases and one user for them. */
export function databaseSetupSql(inputs: ConfigInputs): string {
  const pw = inputs.dbPassword.replace(/'/g, "''");
  const lines = [`CREATE USER IF NOT EXISTS '${DB_USER}'@'127.0.0.1' IDENTIFIED BY '${pw}';`];
  for (const db of DATABASES) {
    lines.push(`CREATE DATABASE IF NOT EXISTS ${db} CHARACTER SET utf8mb4;`);
    lines.push(`GRANT ALL PRIVILEGES ON ${db}.* TO '${DB_USER}'@'127.0.0.1';`);
  }
  lines.push('FLUSH PRIVILEGES;');
  return `${lines.join('\n')}\n`;
}

/**
 * ceph.conf for the one-node cluster: no cephx (loopback only), pools of size 1, CRUSH choosing
 * OSDs (not hosts), a memstore OSD capped in size, private ports, and every run/log/data path under
 * the state dir.
 */
export function renderCephConf(inputs: ConfigInputs): string {
  const c = inputs.ceph;
  if (!c) throw new Error('renderCephConf needs the ceph inputs');
  const l = inputs.layout.ceph;
  const asok = `${l.runDir}/$cluster-$name.asok`;
  return renderIni({
    global: {
      fsid: c.fsid,
      'mon host': `[v2:127.0.0.1:${c.ports.mon},v1:127.0.0.1:${c.ports.monV1}]`,
      'mon initial members': CEPH_IDS.mon,
      'public addr': '127.0.0.1',
      'auth cluster required': 'none',
      'auth service required': 'none',
      'auth client required': 'none',
      'ms bind port min': c.ports.bindMin,
      'ms bind port max': c.ports.bindMax,
      'run dir': l.runDir,
      'log file': `${l.logDir}/ceph-$name.log`,
      'osd pool default size': 1,
      'osd pool default min size': 1,
      'osd pool default pg num': 8,
      'osd pool default pgp num': 8,
      'osd pool default pg autoscale mode': 'off',
      'osd crush chooseleaf type': 0,
      'mon allow pool size one': true,
      'mon warn on pool no redundancy': false,
      'mon warn on insecure global id reclaim allowed': false,
      // the mon stops below `mon data avail crit` percent free disk: a shared test machine may be fuller
      'mon data avail warn': 5,
      'mon data avail crit': 1,
    },
    mon: { 'mon data': l.monData, 'admin socket': asok },
    mgr: { 'mgr data': l.mgrData, 'admin socket': asok, 'mgr initial modules': 'iostat' },
    osd: {
      'osd data': l.osdData,
      'admin socket': asok,
      'osd objectstore': 'memstore',
      'memstore device bytes': c.memstoreBytes,
      // memstore writes its objects to osd data only on a clean unmount, which fast shutdown skips
      'osd fast shutdown': false,
    },
    // clients (glance-api workers, the ceph/rbd CLIs) get no admin socket: several share a name
    client: { 'admin socket': '', 'ms mon client mode': 'crc', 'ms client mode': 'crc' },
    [`client.${CEPH_IDS.rgw}`]: {
      'admin socket': asok,
      'rgw data': l.rgwData,
      'rgw frontends': `beast endpoint=127.0.0.1:${c.ports.rgw}`,
      'rgw thread pool size': 32,
    },
  });
}

/** Command line of each Ceph daemon (in the foreground: the pid we record is the daemon). */
export function cephDaemonArgs(inputs: ConfigInputs, daemon: CephDaemonName): { cmd: string; args: string[] } {
  const conf = inputs.layout.ceph.conf;
  switch (daemon) {
    case 'ceph-mon':
      return { cmd: '/usr/bin/ceph-mon', args: ['-f', '-c', conf, '-i', CEPH_IDS.mon] };
    case 'ceph-mgr':
      return { cmd: '/usr/bin/ceph-mgr', args: ['-f', '-c', conf, '-i', CEPH_IDS.mgr] };
    case 'ceph-osd':
      return { cmd: '/usr/bin/ceph-osd', args: ['-f', '-c', conf, '-i', CEPH_IDS.osd] };
    case 'radosgw':
      return { cmd: '/usr/bin/radosgw', args: ['-f', '-c', conf, '-n', `client.${CEPH_IDS.rgw}`] };
  }
}

/** The ceph.conf sections a daemon reads: global, its type's and its own. */
export function cephSectionsOf(daemon: CephDaemonName): string[] {
  switch (daemon) {
    case 'ceph-mon':
      return ['global', 'mon', `mon.${CEPH_IDS.mon}`];
    case 'ceph-mgr':
      return ['global', 'mgr', `mgr.${CEPH_IDS.mgr}`];
    case 'ceph-osd':
      return ['global', 'osd', `osd.${CEPH_IDS.osd}`];
    case 'radosgw':
      return ['global', 'client', `client.${CEPH_IDS.rgw}`];
  }
}

/** Meaningful lines of the named sections of an ini text (section headers included). */
export function countIniSectionLines(text: string, sections: string[]): number {
  let current = '';
  let n = 0;
  for (const line of text.split('\n')) {
    const header = /^\s*\[([^\]]+)\]\s*$/.exec(line);
    if (header) current = header[1]!;
    if (sections.includes(current) && countConfigLines(line) === 1) n++;
  }
  return n;
}

/** Meaningful lines (no blanks, no comments): the "configuration lines" complexity figure. */
export function countConfigLines(text: string): number {
  return text.split('\n').filter((l) => l.trim() !== '' && !/^\s*[#;]/.test(l)).length;
}
