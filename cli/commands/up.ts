// `edgeplane up|down|status openstack`: start, stop and inspect the local minimal OpenStack
// control plane (MariaDB, Keystone, Glance, Barbican from Debian packages, on loopback).
import { type Command, InvalidArgumentError } from 'commander';
import { createLogger, EXIT, InputError, NotSupportedError } from '../../common/index.js';
import { OPENSTACK_STATE_DIR as DEFAULT_STATE_DIR, downOpenStack as down, openStackStatus as status, upOpenStack as up, type StackStatus } from '../../control-openstack/index.js';

interface StateFlags {
  state: string;
}

interface UpFlags extends StateFlags {
  withCeph?: boolean;
  cephPortBase?: number;
  memstore?: number;
  keystonePort?: number;
  glancePort?: number;
  barbicanPort?: number;
  dbPort?: number;
  workers?: number;
  verbose?: boolean;
}

export function register(program: Command): void {
  program
    .command('up')
    .description('start a real control plane locally (openstack: MariaDB, Keystone, Glance, Barbican on loopback)')
    .argument('[plane]', 'control plane to start (only openstack runs real services)', 'openstack')
    .option('--state <dir>', 'where configs, data, logs and pid files live', DEFAULT_STATE_DIR)
    .option('--with-ceph', 'store Glance images in Ceph RBD: also run a one-node Ceph (mon, mgr, memstore OSD, RGW) in the state dir')
    .option('--ceph-port-base <port>', 'with --with-ceph: mon v1 = base, mon v2 = base+1, RGW = base+2, daemons in base+11..base+110 (default 26789)', port)
    .option('--memstore <MiB>', 'with --with-ceph: RAM cap of the memstore OSD in MiB (default 2048)', memstoreMiB)
    .option('--keystone-port <port>', 'Keystone port (default 5000)', port)
    .option('--glance-port <port>', 'Glance port (default 9292)', port)
    .option('--barbican-port <port>', 'Barbican port (default 9311)', port)
    .option('--db-port <port>', 'MariaDB port (default 3306)', port)
    .option('--workers <n>', 'worker processes per API service (default 2)', positiveInt)
    .option('-v, --verbose', 'log each step on stderr')
    .addHelpText('after', '\nRoot installs missing Debian packages; others get the exact apt-get command. Idempotent: a running stack is left as is.')
    .action(async (plane: string, flags: UpFlags) => {
      requireOpenStack(plane, 'up');
      if (!flags.withCeph && (flags.cephPortBase !== undefined || flags.memstore !== undefined)) {
        throw new InputError('--ceph-port-base and --memstore need --with-ceph');
      }
      const logger = createLogger({ file: `${flags.state}/logs/edgeplane-up.log`, verbose: flags.verbose });
      const stack = await up({
        stateDir: flags.state,
        withCeph: flags.withCeph,
        cephPortBase: flags.cephPortBase,
        memstoreBytes: flags.memstore === undefined ? undefined : flags.memstore * 1024 ** 2,
        ports: { keystone: flags.keystonePort, glance: flags.glancePort, barbican: flags.barbicanPort, mariadb: flags.dbPort },
        workers: flags.workers,
        logger,
        onProgress: (m) => process.stderr.write(`${m}\n`),
      });
      const out = process.stdout;
      out.write(stack.started ? `OpenStack is up (${(stack.coldStartMs / 1000).toFixed(1)} s)\n` : 'OpenStack was already running\n');
      out.write(`  identity     ${stack.endpoints.identity}\n`);
      out.write(`  image        ${stack.endpoints.image}\n`);
      out.write(`  key-manager  ${stack.endpoints.keyManager}\n`);
      out.write(`  database     mysql://127.0.0.1:${stack.state.ports.mariadb}\n`);
      const ceph = stack.state.ceph;
      if (ceph) {
        out.write(`  ceph         mon v2:127.0.0.1:${ceph.ports.mon}, rgw http://127.0.0.1:${ceph.ports.rgw}, conf ${stack.layout.ceph.conf}\n`);
        out.write(`  image store  Ceph RBD pool images (memstore OSD, at most ${Math.round(ceph.memstoreBytes / 1024 ** 2)} MiB of RAM)\n`);
      }
      out.write(`  credentials  ${stack.layout.openrc}  (admin / project admin)\n`);
      out.write(`  note         Keystone password_hash_rounds = ${stack.state.passwordHashRounds} (test stack)\n`);
    });

  program
    .command('down')
    .description('stop exactly the processes `edgeplane up` started (by pid); data stays in the state dir')
    .argument('[plane]', 'control plane', 'openstack')
    .option('--state <dir>', 'state dir given to `up`', DEFAULT_STATE_DIR)
    .action(async (plane: string, flags: StateFlags) => {
      requireOpenStack(plane, 'down');
      const stopped = await down(flags.state);
      if (stopped.length === 0) process.stdout.write(`nothing to stop in ${flags.state}\n`);
      for (const s of stopped) process.stdout.write(`${s.name.padEnd(9)} pid ${String(s.pid).padEnd(8)} ${s.result}\n`);
    });

  program
    .command('status')
    .description('show the local control plane: processes, health, endpoints (exit 3 when not all healthy)')
    .argument('[plane]', 'control plane', 'openstack')
    .option('--state <dir>', 'state dir given to `up`', DEFAULT_STATE_DIR)
    .option('--json', 'print JSON')
    .action(async (plane: string, flags: StateFlags & { json?: boolean }) => {
      requireOpenStack(plane, 'status');
      const st = await status(flags.state);
      process.stdout.write(flags.json ? `${JSON.stringify(st, null, 2)}\n` : renderStatus(st));
      const healthy = st.exists && st.services.every((s) => s.healthy);
      process.exitCode = healthy ? EXIT.OK : EXIT.ENVIRONMENT;
    });
}

export function renderStatus(st: StackStatus): string {
  if (!st.exists) return `no OpenStack stack in ${st.stateDir} (run \`edgeplane up openstack\`)\n`;
  const lines = [`OpenStack stack in ${st.stateDir}`];
  for (const s of st.services) {
    const state = s.healthy ? 'healthy' : s.running ? 'running, not answering' : 'stopped';
    lines.push(`  ${s.name.padEnd(9)} ${state.padEnd(22)} pid ${String(s.pid ?? '-').padEnd(8)} ${s.url}`);
  }
  lines.push(`  Keystone password_hash_rounds = ${st.passwordHashRounds}${st.passwordHashRounds !== 12 ? ' (test stack, default is 12)' : ''}`);
  if (st.coldStartMs !== null) lines.push(`  last cold start: ${(st.coldStartMs / 1000).toFixed(1)} s`);
  if (st.openrc) lines.push(`  credentials: ${st.openrc}`);
  if (st.ceph) lines.push(`  Glance on Ceph RBD: ${st.ceph.conf}${st.ceph.startMs !== null ? ` (Ceph started in ${(st.ceph.startMs / 1000).toFixed(1)} s)` : ''}`);
  return `${lines.join('\n')}\n`;
}

function requireOpenStack(plane: string, command: string): void {
  if (plane === 'openstack') return;
  if (plane === 'opennebula' || plane === 'cloudstack') {
    throw new NotSupportedError(`\`${command} ${plane}\`: only openstack runs as real local services; ${plane} is served by its API emulator during runs`);
  }
  throw new InputError(`unknown control plane ${JSON.stringify(plane)} (expected openstack)`);
}

function port(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('expected a TCP port (1-65535)');
  return n;
}

function memstoreMiB(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 64 || n > 1024 * 1024) throw new InvalidArgumentError('expected MiB, a whole number from 64');
  return n;
}

function positiveInt(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError('expected a whole number from 1 to 64');
  return n;
}
