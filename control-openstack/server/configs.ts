// Pure rendering of every configuration file the local stack runs with. Kept pure so that the
// content can be unit-tested and its line count measured (complexity profile).
import type { StackLayout, StackPorts } from './layout.js';

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
}

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
  };
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
    '--plugins', 'python3',
    '--http-socket', `127.0.0.1:${inputs.ports.keystone}`,
    '--wsgi-file', '/usr/bin/keystone-wsgi-public',
    '--env', `OS_KEYSTONE_CONFIG_FILES=${k.conf}`,
    '--master',
    '--processes', String(inputs.workers),
    '--threads', '1',
    '--die-on-term',
    '--need-app',
    // http-socket does not keep connections alive; say so, or clients reuse a dead socket
    '--add-header', 'Connection: close',
    '--buffer-size', '65535',
    '--pidfile', k.pidFile,
  ];
}

export function renderGlanceConf(inputs: ConfigInputs): string {
  const g = inputs.layout.glance;
  return renderIni({
    DEFAULT: {
      bind_host: '127.0.0.1',
      bind_port: inputs.ports.glance,
      workers: inputs.workers,
      log_file: g.log,
      use_stderr: false,
      enabled_backends: 'file:file',
      show_image_direct_url: false,
    },
    database: { connection: dbUrl(inputs, 'glance') },
    glance_store: { default_backend: 'file' },
    file: { filesystem_store_datadir: `${g.imagesDir}/` },
    os_glance_staging_store: { filesystem_store_datadir: `${g.stagingDir}/` },
    os_glance_tasks_store: { filesystem_store_datadir: `${g.tasksDir}/` },
    // the default paste flavor has no authentication at all
    paste_deploy: { flavor: 'keystone', config_file: '/etc/glance/glance-api-paste.ini' },
    keystone_authtoken: authtoken(inputs, 'glance', inputs.glancePassword),
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
export function renderBarbicanPaste(inputs: ConfigInputs): string {
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

/** Meaningful lines (no blanks, no comments): the "configuration lines" complexity figure. */
export function countConfigLines(text: string): number {
  return text.split('\n').filter((l) => l.trim() !== '' && !/^\s*[#;]/.test(l)).length;
}
