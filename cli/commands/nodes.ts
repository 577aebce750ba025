// `edgeplane nodes check|vms`: SSH nodes for `run --env real --inventory` — check that each
// inventory node is reachable and can run the agent (Node.js >= 20), and boot node VMs (qemu
// guests with sshd and Node inside) that come with their inventory.
import { join, resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { createLogger, EnvironmentError } from '../../common/index.js';
import { loadInventory, MAX_NODE_VMS, nodeVmsDown, nodeVmsUp, probeNode, SshConnection, type NodeMachine } from '../../environments/index.js';
import { integerOption } from '../options.js';

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

interface NodeCheck {
  name: string;
  host: string;
  port: number;
  ok: boolean;
  problem?: string;
  machine?: NodeMachine;
  uname?: string;
  hostKey?: string;
}

export async function checkNodes(file: string): Promise<NodeCheck[]> {
  const inv = await loadInventory(file);
  return Promise.all(
    inv.nodes.map(async (node): Promise<NodeCheck> => {
      const base = { name: node.name, host: node.host, port: node.port };
      let conn: SshConnection;
      try {
        conn = await SshConnection.open(node, { timeoutS: inv.connectTimeoutS });
      } catch (err) {
        return { ...base, ok: false, problem: (err as Error).message };
      }
      try {
        const p = await probeNode(conn);
        return p.ok ? { ...base, ok: true, machine: p.machine, hostKey: conn.hostKeyFingerprint } : { ...base, ok: false, problem: `${node.name}: ${p.problem}`, uname: p.uname, hostKey: conn.hostKeyFingerprint };
      } catch (err) {
        return { ...base, ok: false, problem: (err as Error).message };
      } finally {
        conn.close();
      }
    }),
  );
}

export function register(program: Command): void {
  const nodes = program.command('nodes').description('SSH nodes for `run --env real --inventory`: check them, or boot node VMs');
  nodes
    .command('check')
    .description('connect to every node of an inventory and report its OS, architecture, CPUs, memory, Node.js version and /dev/kvm')
    .requiredOption('--inventory <file>', 'inventory (YAML, see README "SSH nodes")')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExit codes: 0 every node can run the agent, 2 bad inventory, 3 a node is unreachable, refuses the key, or has no Node.js >= 20.')
    .action(async (f: { inventory: string; json?: boolean }) => {
      const checks = await checkNodes(f.inventory);
      if (f.json) out(JSON.stringify(checks, null, 2));
      else {
        for (const c of checks) {
          const m = c.machine;
          out(
            c.ok && m
              ? `${c.name.padEnd(16)} ok   ${`${c.host}:${c.port}`.padEnd(22)} node ${m.node}, ${m.os}/${m.arch}, ${m.cpus} CPU(s), ${m.memoryMiB} MiB, kvm ${m.kvm ? 'yes' : 'no'}, ${c.hostKey}`
              : `${c.name.padEnd(16)} FAIL ${`${c.host}:${c.port}`.padEnd(22)} ${c.problem}`,
          );
        }
      }
      const bad = checks.filter((c) => !c.ok);
      if (bad.length > 0) {
        throw new EnvironmentError(
          `${bad.length} of ${checks.length} node(s) cannot run the agent`,
          bad.map((c) => c.problem ?? c.name),
        );
      }
    });

  const vms = nodes.command('vms').description('node VMs: small qemu guests with sshd and Node.js inside, and an inventory for them');
  vms
    .command('up')
    .description('boot N node VMs (KVM when it works, else TCG) and write <state>/inventory.yaml')
    .requiredOption('--state <dir>', "where the VMs' disks, key, pids and inventory go")
    .option('--count <n>', `how many VMs (at most ${MAX_NODE_VMS})`, integerOption('--count', 1, MAX_NODE_VMS), 2)
    .option('--memory <MiB>', 'memory per VM', integerOption('--memory', 256, 16384), 512)
    .addOption(new Option('--accel <accel>', 'acceleration').choices(['auto', 'kvm', 'tcg']).default('auto'))
    .option('--cache-dir <dir>', 'where built guest images are cached (default /var/cache/edgeplane)')
    .option('--verbose', 'logs to stderr as well')
    .addHelpText(
      'after',
      '\nThe guest image is built (root: debootstrap) on first use, then cached by its inputs. Exit codes: 0 up, 2 bad usage or VMs already up there, 3 qemu, the image build or a boot failed (the VMs started are stopped again).',
    )
    .action(async (f: { state: string; count: number; memory: number; accel: 'auto' | 'kvm' | 'tcg'; cacheDir?: string; verbose?: boolean }) => {
      const log = createLogger({ file: join(resolve(f.state), 'nodes-vms.log'), verbose: f.verbose });
      const say = (m: string) => process.stderr.write(`${m}\n`);
      const t0 = performance.now();
      const r = await nodeVmsUp({ count: f.count, stateDir: f.state, memoryMiB: f.memory, accel: f.accel, cacheDir: f.cacheDir, say, log });
      for (const v of r.vms) out(`${v.name.padEnd(8)} pid ${v.pid}  ssh root@127.0.0.1 -p ${v.port}  up after ${(v.bootMs / 1000).toFixed(1)} s  ${v.hostKey}`);
      out(`inventory: ${r.inventory} (${r.accel}, ${((performance.now() - t0) / 1000).toFixed(1)} s in all)`);
    });
  vms
    .command('down')
    .description('stop the node VMs of a state dir (by their pids) and remove their disks and inventory')
    .requiredOption('--state <dir>', 'the state dir given to `nodes vms up`')
    .action(async (f: { state: string }) => {
      const stopped = await nodeVmsDown(f.state);
      if (stopped.length === 0) out(`no node VMs in ${f.state}`);
      for (const s of stopped) out(`${s.name.padEnd(8)} pid ${s.pid}: ${s.result}`);
    });
}
