// Real sshds for the SSH-node tests: Debian's openssh-server, one per network namespace
// (`epssh-<pid>-<i>`, a veth pair to this machine, 10.213.<i>.2:2222), each started with -D and
// its own configuration, host key and authorized key in a temp dir (not the system service).
// A node may be "without Node.js": its sshd sets a PATH that has the basic tools but no node.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SSHD, sshdConfig } from '../../../environments/emulate/index.js';

export { SSHD };

export interface SshdNode {
  ns: string;
  ip: string;
  port: number;
  child: ChildProcess;
}

export interface SshdFleet {
  dir: string;
  userKey: string;
  wrongKey: string;
  nodes: SshdNode[];
  stop(): void;
}

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

/** Namespaces this test process left (by name prefix and pid), or all `epssh-` ones with `all`. */
export function removeNamespaces(prefix: string): void {
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0];
    if (name?.startsWith(prefix)) spawnSync('ip', ['netns', 'del', name]);
  }
}

export async function startSshds(dir: string, o: { count: number; noNode?: number[] }): Promise<SshdFleet> {
  mkdirSync(dir, { recursive: true });
  mkdirSync('/run/sshd', { recursive: true });
  const key = (name: string) => {
    const f = join(dir, name);
    if (!existsSync(f)) sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', f]);
    return f;
  };
  const hostKey = key('host_ed25519');
  const userKey = key('user_ed25519');
  const wrongKey = key('wrong_ed25519');
  sh('cp', [`${userKey}.pub`, join(dir, 'authorized_keys')]);
  // a PATH with the usual tools but no node
  const bin = join(dir, 'bin-without-node');
  mkdirSync(bin, { recursive: true });
  for (const tool of ['sh', 'uname', 'mkdir', 'rm', 'kill', 'cat']) {
    const target = sh('sh', ['-c', `command -v ${tool}`]).trim();
    if (target.startsWith('/') && !existsSync(join(bin, tool))) symlinkSync(target, join(bin, tool));
  }
  const prefix = `epssh-${process.pid}-`;
  const nodes: SshdNode[] = [];
  const stop = () => {
    for (const n of nodes) if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill('SIGKILL');
    removeNamespaces(prefix);
  };
  try {
    for (let i = 0; i < o.count; i++) {
      const ns = `${prefix}${i}`;
      const ip = `10.213.${i + 1}.2`;
      const hostIf = `epsshh${process.pid % 10000}x${i}`.slice(0, 15);
      const nsIf = `epsshn${process.pid % 10000}x${i}`.slice(0, 15);
      sh('ip', ['netns', 'add', ns]);
      sh('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf]);
      sh('ip', ['link', 'set', nsIf, 'netns', ns]);
      sh('ip', ['addr', 'add', `10.213.${i + 1}.1/24`, 'dev', hostIf]);
      sh('ip', ['link', 'set', hostIf, 'up']);
      sh('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', nsIf]);
      sh('ip', ['-n', ns, 'link', 'set', nsIf, 'up']);
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      const conf = join(dir, `sshd-${i}.conf`);
      writeFileSync(conf, sshdConfig({ hostKey, authorizedKeys: join(dir, 'authorized_keys') }, { address: ip, port: 2222 }, ['Subsystem sftp internal-sftp', ...(o.noNode?.includes(i) ? [`SetEnv PATH=${bin}`] : [])]));
      const child = spawn('ip', ['netns', 'exec', ns, SSHD, '-D', '-e', '-f', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
      let log = '';
      child.stderr!.on('data', (d: Buffer) => {
        if (log.length < 65536) log += d.toString();
      });
      const node = { ns, ip, port: 2222, child };
      nodes.push(node);
      const deadline = Date.now() + 15_000;
      while (!/Server listening on/.test(log)) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`sshd in ${ns} did not start: ${log}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } catch (err) {
    stop();
    throw err;
  }
  return { dir, userKey, wrongKey, nodes, stop };
}

/** Inventory YAML for some of the fleet's nodes. */
export function inventoryYaml(f: SshdFleet, which: { index: number; name: string; key?: string; port?: number }[], workDir: string): string {
  const lines = ['connectTimeoutS: 10', 'nodes:'];
  for (const w of which) {
    const n = f.nodes[w.index]!;
    lines.push(`  - name: ${w.name}`, `    host: ${n.ip}`, `    port: ${w.port ?? n.port}`, '    user: root', `    key: ${w.key ?? f.userKey}`, `    workDir: ${workDir}`, `    site: site-${w.index}`);
  }
  return `${lines.join('\n')}\n`;
}
