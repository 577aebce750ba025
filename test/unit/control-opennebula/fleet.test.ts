// `fleet enroll --plane opennebula --out DIR` against a fake oned: one ONE user per node in the fleet
// group, and per node an agent.yaml (mode 0600) whose plane section names a password file (0600)
// that the agent's config loader resolves and the node client reads; re-enrolling gives a new password.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../../../agent/runtime/index.js';
import { FLEET_GROUP, imageRule, OneFleet, opennebulaNodeClient, parseImageRule } from '../../../control-opennebula/index.js';
import { type FakeOned, fakeOned } from './fake-oned.js';

let server: FakeOned | null = null;
let dir = '';
afterEach(() => {
  server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface User {
  id: number;
  name: string;
  gid: number;
  password: string;
}

async function frontEnd(users: User[]): Promise<{ stateDir: string; groups: string[] }> {
  const groups: string[] = [];
  server = await fakeOned((m, a) => {
    const userXml = (u: User) => `<USER><ID>${u.id}</ID><GID>${u.gid}</GID><NAME>${u.name}</NAME><ENABLED>1</ENABLED><TEMPLATE/></USER>`;
    if (m === 'one.userpool.info') return [true, `<USER_POOL>${users.map(userXml).join('')}</USER_POOL>`, 0];
    if (m === 'one.grouppool.info') return [true, `<GROUP_POOL>${groups.map((g, i) => `<GROUP><ID>${100 + i}</ID><NAME>${g}</NAME></GROUP>`).join('')}</GROUP_POOL>`, 0];
    if (m === 'one.group.allocate') return [true, 100 + groups.push(a[1] as string) - 1, 0];
    if (m === 'one.user.allocate') return [true, users.push({ id: users.length + 2, name: a[1] as string, gid: 1, password: a[2] as string }) + 1, 0];
    if (m === 'one.user.passwd') {
      users.find((u) => u.id === a[1])!.password = a[2] as string;
      return [true, a[1]!, 0];
    }
    if (m === 'one.user.chgrp') {
      users.find((u) => u.id === a[1])!.gid = a[2] as number;
      return [true, a[1]!, 0];
    }
    return [false, `[${m}] not in the fake`, 0x1000, -1];
  });
  dir = mkdtempSync(join(tmpdir(), 'edgeplane-one-fleet-'));
  const stateDir = join(dir, 'state');
  mkdirSync(stateDir);
  writeFileSync(join(stateDir, 'opennebula.json'), JSON.stringify({ version: 1, mode: 'local', endpoint: server.url, portBase: 46100, hosts: 0, initialized: [], pids: {} }));
  writeFileSync(join(stateDir, 'credentials.json'), JSON.stringify({ endpoint: server.url, username: 'oneadmin', password: 'admin-pw' }));
  return { stateDir, groups };
}

describe('fleet enroll --plane opennebula', () => {
  it('writes <node>.agent.yaml and <node>.password (0600); the agent loads them into a node client config', async () => {
    const users: User[] = [{ id: 0, name: 'oneadmin', gid: 0, password: 'admin-pw' }];
    const { stateDir, groups } = await frontEnd(users);
    const fleet = new OneFleet(stateDir);
    const out = join(dir, 'agents');
    const enrolled = await fleet.enroll(['node-b', 'node-a', 'node-a'], { outDir: out, trust: ['/etc/edgeplane/publisher.pub'] });
    expect(enrolled.map((e) => e.nodeId)).toEqual(['node-a', 'node-b']);
    expect(groups).toEqual([FLEET_GROUP]);
    for (const e of enrolled) {
      const user = users.find((u) => u.name === e.nodeId)!;
      expect(user.gid).toBe(100);
      expect(e.configFile).toBe(join(out, `${e.nodeId}.agent.yaml`));
      const pwFile = join(out, `${e.nodeId}.password`);
      expect(statSync(e.configFile!).mode & 0o777).toBe(0o600);
      expect(statSync(pwFile).mode & 0o777).toBe(0o600);
      expect(readFileSync(pwFile, 'utf8').trim()).toBe(user.password);
      const text = readFileSync(e.configFile!, 'utf8');
      expect(text).not.toContain(user.password);
      const cfg = parseAgentConfig(text, e.configFile!, out, [opennebulaNodeClient as never]);
      expect(cfg.node).toBe(e.nodeId);
      expect(cfg.trust).toEqual(['/etc/edgeplane/publisher.pub']);
      expect(cfg.plane).toMatchObject({ kind: 'opennebula', endpoint: server!.url, edgeUrl: 'http://127.0.0.1:46110', username: e.nodeId, passwordFile: pwFile });
      expect(e.agentPlane).toMatchObject({ username: e.nodeId, password: user.password });
    }
    await fleet.close();
  });
  it('re-enrolling a node gives it a new password (the old one stops working); an admin user is refused', async () => {
    const users: User[] = [
      { id: 0, name: 'oneadmin', gid: 0, password: 'admin-pw' },
      { id: 5, name: 'node-a', gid: 100, password: 'old' },
    ];
    const { stateDir } = await frontEnd(users);
    const fleet = new OneFleet(stateDir);
    const [e] = await fleet.enroll(['node-a']);
    expect(e!.configFile).toBeNull();
    expect(e!.details['re-enrolled']).toBe('new password');
    expect(users.find((u) => u.id === 5)!.password).not.toBe('old');
    expect(users).toHaveLength(2);
    await expect(fleet.enroll(['oneadmin'])).rejects.toThrow(/admin user/);
    await fleet.close();
  });
});

describe('per-node image ACL rules', () => {
  it('`#uid IMAGE/#id USE` in one.acl.addrule’s hex form, and read back from one.acl.info', () => {
    // oned's own example: `onacl create "#5 IMAGE/#12 USE"` -> USER 100000005, RESOURCE 810000000c, RIGHTS 1
    expect(imageRule(5, 12)).toEqual({ user: '100000005', resource: '810000000c', rights: '1' });
    expect(parseImageRule('100000005', '810000000c', '1')).toEqual({ uid: 5, imageId: 12 });
    // a group (@) user, all images (*), another right, another object type: not ours
    expect(parseImageRule('200000005', '810000000c', '1')).toBeNull();
    expect(parseImageRule('100000005', '8400000000', '1')).toBeNull();
    expect(parseImageRule('100000005', '810000000c', '3')).toBeNull();
    expect(parseImageRule('100000005', '1100000003', '1')).toBeNull();
  });
});
