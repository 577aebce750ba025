// Emulated nodes as hosts over ssh (native mode: the plane's own transfers reach them): Debian's
// sshd in every node's namespace (-D, its own configuration, listening on the node's address),
// one host key for all of them pinned in a known_hosts file, one client key. The fleet's origin
// gets no listening sshd: `sshd -i` started per connection by ssh's ProxyCommand in the origin
// namespace serves the plane's front-end, and jumps from there to the nodes leave the origin.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NativeSshFleet } from '../../adapters/index.js';
import { EnvironmentError } from '../../common/index.js';
import { NsProcess } from './processes.js';
import { ORIGIN_NS, type EmulatedNode } from './topology.js';

export const SSHD = '/usr/sbin/sshd';
export const NODE_SSH_PORT = 22;

export interface SshKeys {
  dir: string;
  hostKey: string;
  userKey: string;
  authorizedKeys: string;
  knownHosts: string;
}

function keygen(file: string, comment: string): void {
  if (existsSync(file)) return;
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new EnvironmentError(`ssh-keygen failed: ${r.stderr || r.error?.message}`, ['apt-get install openssh-client']);
}

/** Fresh keys under `dir`: a host key every emulated sshd presents (pinned for any name), a client key they accept. */
export function makeKeys(dir: string): SshKeys {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const hostKey = join(dir, 'host_ed25519');
  const userKey = join(dir, 'user_ed25519');
  keygen(hostKey, 'edgeplane-emulated-host');
  keygen(userKey, 'edgeplane-emulated-client');
  const authorizedKeys = join(dir, 'authorized_keys');
  writeFileSync(authorizedKeys, readFileSync(`${userKey}.pub`), { mode: 0o600 });
  const knownHosts = join(dir, 'known_hosts');
  const [type, key] = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(/\s+/);
  writeFileSync(knownHosts, `* ${type} ${key}\n`, { mode: 0o600 });
  return { dir, hostKey, userKey, authorizedKeys, knownHosts };
}

/** An sshd configuration: root by key only, TCP forwarding (the jumps), on `listen` when given (-D), for inetd mode (-i) without; `extra` lines at the end. */
export function sshdConfig(k: Pick<SshKeys, 'hostKey' | 'authorizedKeys'>, listen?: { address: string; port: number }, extra: readonly string[] = []): string {
  return [
    ...(listen ? [`Port ${listen.port}`, `ListenAddress ${listen.address}`] : []),
    `HostKey ${k.hostKey}`,
    'PidFile none',
    `AuthorizedKeysFile ${k.authorizedKeys}`,
    'StrictModes no',
    'UsePAM no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    'AllowTcpForwarding yes',
    'MaxStartups 200:30:400',
    'MaxSessions 100',
    // a listening sshd says when it listens; an inetd-mode one writes into its client's stderr (the drivers' logs)
    listen ? 'LogLevel INFO' : 'LogLevel ERROR',
    ...extra,
    '',
  ].join('\n');
}

export function checkSshd(): void {
  if (!existsSync(SSHD)) throw new EnvironmentError(`native mode in the emulation runs an sshd per node: ${SSHD} is missing`, ['apt-get install --no-install-recommends openssh-server openssh-client']);
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
}

/** Starts an sshd in each node's namespace; resolves when all listen. */
export async function startNodeSshds(k: SshKeys, nodes: readonly EmulatedNode[]): Promise<NsProcess[]> {
  const started: NsProcess[] = [];
  try {
    for (const node of nodes) {
      const conf = join(k.dir, `sshd-${node.index}.conf`);
      writeFileSync(conf, sshdConfig(k, { address: node.ip, port: NODE_SSH_PORT }));
      started.push(new NsProcess(node.ns, ['-D', '-e', '-f', conf], `sshd of ${node.id}`, [], SSHD));
    }
    for (const p of started) await p.waitFor(/Server listening on/, 15_000, 'stderr');
  } catch (err) {
    await Promise.all(started.map((p) => p.stop(1_000)));
    throw err;
  }
  return started;
}

/** The plane's view of the fleet: its front-end is an `sshd -i` in the origin, every node's sshd behind it. */
export function sshFleetOf(k: SshKeys, nodes: readonly { planeId: string; node: EmulatedNode }[]): NativeSshFleet {
  const originConf = join(k.dir, 'sshd-origin.conf');
  writeFileSync(originConf, sshdConfig(k));
  return {
    originProxyCommand: `ip netns exec ${ORIGIN_NS} ${SSHD} -i -e -f ${originConf}`,
    hosts: new Map(nodes.map((x) => [x.planeId, { address: x.node.ip, port: NODE_SSH_PORT }])),
    user: 'root',
    identityFile: k.userKey,
    knownHostsFile: k.knownHosts,
  };
}
