import { describe, expect, it } from 'vitest';
import { FRONTEND_SSH_NAME, sshConfigText } from '../../../control-opennebula/server/index.js';

const fleet = {
  originProxyCommand: 'ip netns exec epem-o /usr/sbin/sshd -i -e -f /w/ssh/sshd-origin.conf',
  hosts: new Map([
    ['site-000-node-0000', { address: '10.77.128.2', port: 22 }],
    ['site-001-node-0000', { address: '10.77.129.2', port: 2222 }],
  ]),
  user: 'root',
  identityFile: '/w/ssh/user_ed25519',
  knownHostsFile: '/w/ssh/known_hosts',
};

describe("the drivers' ssh configuration", () => {
  it('names no host without a fleet', () => {
    expect(sshConfigText(null)).not.toMatch(/^Host /m);
  });
  it('reaches the front-end through the origin and every host through the front-end, keys pinned, never asking', () => {
    const text = sshConfigText(fleet);
    const block = (name: string) => text.split(/^Host /m).find((b) => b.startsWith(`${name}\n`))!;
    expect(block(FRONTEND_SSH_NAME)).toContain(`ProxyCommand ${fleet.originProxyCommand}`);
    const host = block('site-001-node-0000');
    expect(host).toContain('HostName 10.77.129.2');
    expect(host).toContain('Port 2222');
    expect(host).toContain(`ProxyJump ${FRONTEND_SSH_NAME}`);
    for (const b of [block(FRONTEND_SSH_NAME), host, block('site-000-node-0000')]) {
      expect(b).toContain('StrictHostKeyChecking yes');
      expect(b).toContain('BatchMode yes');
      expect(b).toContain('UserKnownHostsFile /w/ssh/known_hosts');
      expect(b).toContain('IdentityFile /w/ssh/user_ed25519');
    }
  });
  it('sets no connect timeout (a copy begun during a link cut waits for the link) and keeps connections alive', () => {
    const text = sshConfigText(fleet, '/w/ssh/socks');
    expect(text).not.toMatch(/ConnectTimeout/i);
    const all = text.split(/^Host /m).find((b) => b.startsWith('*\n'))!;
    expect(all).toContain('ServerAliveInterval 10');
    expect(all).toContain('ControlPath /w/ssh/socks/ctl-M-%C.sock');
    expect(text.match(/ServerAliveInterval/g)).toHaveLength(1);
  });
  it('refuses a host name that is not a plain ssh alias', () => {
    expect(() => sshConfigText({ ...fleet, hosts: new Map([['a b', { address: '10.0.0.1', port: 22 }]]) })).toThrow(/ssh alias/);
  });
});
