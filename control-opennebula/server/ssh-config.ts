// The ssh client configuration the front-end's drivers read (daemonEnv sets SSH="ssh -F <it>").
// OpenNebula's TM ssh driver copies a disk as `ssh <front-end> "tar … | ssh <host> tar -x"`
// (src/tm_mad/ssh/clone): the front-end is the name oned.conf's HOSTNAME gives, the host the
// host's NAME. For an emulated fleet both are aliases here: the front-end is an sshd started in the
// fleet's origin (a ProxyCommand), every host is reached through it (ProxyJump), so the copy's
// TCP connection leaves the origin and its bytes cross the fleet's shaped links.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { NativeSshFleet } from '../../adapters/index.js';
import { FRONTEND_SSH_NAME } from './layout.js';

const quoted = (v: string) => (/^[\w./@%:=+-]+$/.test(v) ? v : `"${v.replace(/["\\]/g, '')}"`);

/**
 * The configuration text: no hosts without a fleet. With one, the hosts first, then what
 * OpenNebula's packages give oneadmin (share/ssh/etc/config: ControlMaster no, which the drivers'
 * ssh wrapper lib/sh/override/ssh turns into auto; ControlPersist 70s), with the control sockets in
 * `controlDir`.
 * No ConnectTimeout, as in the packages' file: behind ProxyJump it also bounds the wait for the
 * host's banner, so a copy begun while a link is cut fails on its SYN back-off instead of
 * resuming when the link returns. Keep-alives (10 s × ServerAliveCountMax 3) outlast short cuts.
 */
export function sshConfigText(fleet: NativeSshFleet | null, controlDir?: string): string {
  const lines = ['# edgeplane: the ssh configuration of the OpenNebula drivers (SSH="ssh -F <this file>")'];
  if (fleet === null) return `${lines.join('\n')}\n`;
  const common = [
    `  User ${quoted(fleet.user)}`,
    `  IdentityFile ${quoted(fleet.identityFile)}`,
    '  IdentitiesOnly yes',
    `  UserKnownHostsFile ${quoted(fleet.knownHostsFile)}`,
    '  StrictHostKeyChecking yes',
    '  BatchMode yes',
  ];
  lines.push(`Host ${FRONTEND_SSH_NAME}`, `  ProxyCommand ${fleet.originProxyCommand}`, ...common);
  for (const [name, h] of fleet.hosts) {
    if (!/^[\w.-]+$/.test(name)) throw new Error(`host name ${JSON.stringify(name)} cannot be an ssh alias`);
    lines.push(`Host ${name}`, `  HostName ${h.address}`, `  Port ${h.port}`, `  ProxyJump ${FRONTEND_SSH_NAME}`, ...common);
  }
  lines.push('Host *', '  ServerAliveInterval 10');
  if (controlDir !== undefined) lines.push('  ControlMaster no', '  ControlPersist 70s', `  ControlPath ${quoted(join(controlDir, 'ctl-M-%C.sock'))}`);
  return `${lines.join('\n')}\n`;
}

export function writeSshConfig(file: string, fleet: NativeSshFleet | null, controlDir?: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  if (controlDir !== undefined) mkdirSync(controlDir, { recursive: true, mode: 0o700 });
  writeFileSync(file, sshConfigText(fleet, controlDir), { mode: 0o600 });
}
