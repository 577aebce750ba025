// Node VMs (`edgeplane nodes vms up|down`): small qemu guests with sshd and Node inside, booted
// from the guest image scripts/node-vm-image.sh builds (cached by its inputs), each with its own
// copy-on-write disk, user-mode networking and a host port forwarded to its sshd, and an
// inventory written for them: a first-class SSH fleet for `run --env real --inventory`. KVM when
// it works (probed with a short timeout: KVM guests hang on some machines), TCG otherwise.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { probeKvm } from '../../agent/index.js';
import { EnvironmentError, InputError, pidAlive, type Logger } from '../../common/index.js';
import { PACKAGE_ROOT } from '../../scenarios/index.js';
import { SshConnection } from './connection.js';
import { inventoryText, type SshNode } from './inventory.js';

export const MAX_NODE_VMS = 16;
const QEMU = 'qemu-system-x86_64';

export interface NodeVmsUpOptions {
  count: number;
  stateDir: string;
  memoryMiB?: number;
  accel?: 'auto' | 'kvm' | 'tcg';
  /** where built guest images are cached (default /var/cache/edgeplane) */
  cacheDir?: string;
  /** per VM: from qemu start until sshd answers */
  bootTimeoutS?: number;
  say?: (m: string) => void;
  log?: Logger;
}

interface VmRecord {
  name: string;
  pid: number;
  port: number;
  disk: string;
  console: string;
}

interface VmsState {
  image: string;
  accel: 'kvm' | 'tcg';
  memoryMiB: number;
  vms: VmRecord[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const stateFile = (dir: string) => join(dir, 'vms.json');

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}

/** Is `pid` the qemu of this VM (its command line names the VM's disk)? Nothing else is signalled. */
function isOurQemu(pid: number, disk: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(disk);
  } catch {
    return false;
  }
}

/** The guest image folder (vmlinuz, initrd.img, rootfs.qcow2), built by scripts/node-vm-image.sh unless cached. */
export async function nodeVmImage(o: { cacheDir?: string; log?: Logger; say?: (m: string) => void }): Promise<string> {
  const script = join(PACKAGE_ROOT, 'scripts', 'node-vm-image.sh');
  if (!existsSync(script)) throw new EnvironmentError(`the guest image script is missing: ${script}`);
  o.say?.('guest image: building or finding it in the cache (scripts/node-vm-image.sh; a build takes a few minutes)');
  const args = [script, ...(o.cacheDir ? ['--cache-dir', o.cacheDir] : [])];
  const child = spawn('bash', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-8000);
  });
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  if (code !== 0) throw new EnvironmentError(`building the node VM image failed (exit ${code}): ${err.trim().split('\n').slice(-5).join(' | ')}`);
  const dir = out.trim().split('\n').at(-1) ?? '';
  o.log?.info({ image: dir, log: err.trim().split('\n').slice(-2) }, 'node VM image');
  return dir;
}

/** Boots `count` node VMs and writes `<stateDir>/inventory.yaml`; returns its path and the VMs. */
export async function nodeVmsUp(o: NodeVmsUpOptions): Promise<{ inventory: string; accel: 'kvm' | 'tcg'; vms: (VmRecord & { bootMs: number; hostKey: string })[] }> {
  if (!Number.isInteger(o.count) || o.count < 1 || o.count > MAX_NODE_VMS) throw new InputError(`--count must be a whole number from 1 to ${MAX_NODE_VMS}`);
  const stateDir = resolve(o.stateDir);
  if (existsSync(stateFile(stateDir))) {
    const prev = JSON.parse(readFileSync(stateFile(stateDir), 'utf8')) as VmsState;
    if (prev.vms.some((v) => pidAlive(v.pid) && isOurQemu(v.pid, v.disk))) throw new InputError(`node VMs are already up in ${stateDir}: \`edgeplane nodes vms down --state ${o.stateDir}\` first`);
  }
  for (const tool of [QEMU, 'qemu-img']) {
    if (spawnSync(tool, ['--version']).status !== 0) throw new EnvironmentError(`${tool} is missing (apt-get install qemu-system-x86 qemu-utils)`);
  }
  mkdirSync(stateDir, { recursive: true });
  const image = await nodeVmImage(o);
  const kernel = join(image, 'vmlinuz');
  const memoryMiB = o.memoryMiB ?? 512;
  const accel = o.accel === 'kvm' || o.accel === 'tcg' ? o.accel : (await probeKvm(QEMU, kernel, 3000)) ? 'kvm' : 'tcg';
  o.say?.(`booting ${o.count} node VM(s) (${accel}, ${memoryMiB} MiB each)`);
  const keyFile = join(stateDir, 'id_ed25519');
  const { default: ssh2 } = await import('ssh2'); // loaded on use: start-up of every other command stays light
  const keys = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'edgeplane node VMs' });
  writeFileSync(keyFile, keys.private, { mode: 0o600 });
  writeFileSync(`${keyFile}.pub`, `${keys.public}\n`);
  const keyArg = Buffer.from(keys.public).toString('base64');
  const state: VmsState = { image, accel, memoryMiB, vms: [] };
  const save = () => writeFileSync(stateFile(stateDir), `${JSON.stringify(state, null, 2)}\n`);
  const started: (VmRecord & { t0: number })[] = [];
  try {
    for (let i = 0; i < o.count; i++) {
      const name = `vm-${i}`;
      const disk = join(stateDir, `${name}.qcow2`);
      const consoleLog = join(stateDir, `${name}.console.log`);
      const pidFile = join(stateDir, `${name}.pid`);
      rmSync(disk, { force: true });
      rmSync(consoleLog, { force: true });
      const img = spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', join(image, 'rootfs.qcow2'), '-F', 'qcow2', disk], { encoding: 'utf8' });
      if (img.status !== 0) throw new EnvironmentError(`qemu-img create ${disk}: ${img.stderr.trim()}`);
      const port = await freePort();
      const args = [
        '-accel',
        accel,
        '-cpu',
        accel === 'kvm' ? 'host' : 'max',
        '-m',
        String(memoryMiB),
        '-smp',
        '1',
        '-display',
        'none',
        '-no-reboot',
        '-kernel',
        kernel,
        '-initrd',
        join(image, 'initrd.img'),
        '-append',
        `console=ttyS0 root=/dev/vda rw init=/sbin/ep-init net.ifnames=0 panic=-1 quiet ep.name=${name} ep.key=${keyArg}`,
        '-drive',
        `file=${disk},if=virtio,format=qcow2`,
        '-netdev',
        `user,id=n0,hostfwd=tcp:127.0.0.1:${port}-:22`,
        '-device',
        'virtio-net-pci,netdev=n0',
        '-serial',
        `file:${consoleLog}`,
        '-monitor',
        'none',
        '-pidfile',
        pidFile,
        '-daemonize',
      ];
      const t0 = Date.now();
      const q = spawnSync(QEMU, args, { encoding: 'utf8' });
      if (q.status !== 0) throw new EnvironmentError(`${QEMU} for ${name} failed: ${q.stderr.trim().slice(-1000)}`);
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      const vm = { name, pid, port, disk, console: consoleLog };
      state.vms.push(vm);
      started.push({ ...vm, t0 });
      save();
    }
    // every VM boots in parallel; each is ready when its sshd accepts the key
    const deadlineMs = (o.bootTimeoutS ?? 900) * 1000;
    const ready = await Promise.all(
      started.map(async (vm) => {
        const node: SshNode = { name: vm.name, host: '127.0.0.1', port: vm.port, user: 'root', key: keyFile, workDir: '/tmp', node: 'node' };
        for (;;) {
          if (!pidAlive(vm.pid)) throw new EnvironmentError(`node VM ${vm.name} exited while booting (console: ${vm.console}): ${tail(vm.console)}`);
          if (Date.now() - vm.t0 > deadlineMs) throw new EnvironmentError(`node VM ${vm.name}: no sshd after ${deadlineMs / 1000} s (console: ${vm.console}): ${tail(vm.console)}`);
          if (/EPVM-READY/.test(safeRead(vm.console))) {
            try {
              const conn = await SshConnection.open(node, { timeoutS: 20 });
              const hostKey = conn.hostKeyFingerprint;
              conn.close();
              const bootMs = Date.now() - vm.t0;
              o.log?.info({ vm: vm.name, bootMs, accel }, 'node VM up');
              o.say?.(`${vm.name}: sshd on 127.0.0.1:${vm.port} after ${(bootMs / 1000).toFixed(1)} s`);
              return { ...vm, bootMs, hostKey, node: { ...node, site: 'vms', hostKey } };
            } catch {
              // sshd not listening yet
            }
          }
          await sleep(1000);
        }
      }),
    );
    const inventory = join(stateDir, 'inventory.yaml');
    writeFileSync(
      inventory,
      inventoryText(
        ready.map((r) => r.node),
        `node VMs of \`edgeplane nodes vms up --state ${stateDir}\` (${accel}); \`edgeplane nodes vms down --state ${stateDir}\` stops them`,
      ),
    );
    return { inventory, accel, vms: ready.map(({ node: _n, ...v }) => v) };
  } catch (err) {
    await nodeVmsDown(stateDir).catch(() => {});
    throw err;
  }
}

function safeRead(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function tail(file: string): string {
  return safeRead(file).trim().split('\n').slice(-5).join(' | ');
}

/** Stops the VMs `up` started in `stateDir` (by their pids, checked to be their qemu) and removes their disks. */
export async function nodeVmsDown(stateDirIn: string): Promise<{ name: string; pid: number; result: string }[]> {
  const stateDir = resolve(stateDirIn);
  if (!existsSync(stateFile(stateDir))) return [];
  const state = JSON.parse(readFileSync(stateFile(stateDir), 'utf8')) as VmsState;
  const out: { name: string; pid: number; result: string }[] = [];
  for (const vm of state.vms) {
    let result = 'not running';
    if (pidAlive(vm.pid) && isOurQemu(vm.pid, vm.disk)) {
      process.kill(vm.pid, 'SIGTERM');
      const deadline = Date.now() + 10_000;
      while (pidAlive(vm.pid) && Date.now() < deadline) await sleep(100);
      if (pidAlive(vm.pid)) process.kill(vm.pid, 'SIGKILL');
      result = 'stopped';
    }
    for (const f of [vm.disk, join(stateDir, `${vm.name}.pid`)]) rmSync(f, { force: true });
    out.push({ name: vm.name, pid: vm.pid, result });
  }
  rmSync(stateFile(stateDir), { force: true });
  rmSync(join(stateDir, 'inventory.yaml'), { force: true });
  return out;
}
