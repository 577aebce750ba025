// The launcher against the real packages: a cold start into a fresh state dir, idempotent `up`,
// `status`, the live complexity profile, and `down` stopping exactly the processes it started.
// Always starts its own stack (on free ports) so that it can stop it.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { down, measureLiveProfile, SERVICES, status, up, type RunningStack } from '../../../control-openstack/server/index.js';
import { freePorts } from './stack.js';

const dir = mkdtempSync(join(tmpdir(), 'edgeplane-launcher-'));
let first: RunningStack;

afterAll(async () => {
  await down(dir);
  rmSync(dir, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  return existsSync(`/proc/${pid}`) && !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

describe('edgeplane up openstack', () => {
  it('cold-starts MariaDB, Keystone, Glance and Barbican in under a minute', async () => {
    const ports = await freePorts();
    first = await up({ stateDir: dir, ports });
    console.log(`openstack cold start: ${first.coldStartMs} ms (ports ${JSON.stringify(ports)})`);
    expect(first.started).toBe(true);
    expect(first.coldStartMs).toBeLessThan(60_000);
    expect(first.endpoints.identity).toBe(`http://127.0.0.1:${ports.keystone}/v3`);
    const openrc = readFileSync(first.layout.openrc, 'utf8');
    expect(openrc).toContain(`OS_AUTH_URL=${first.endpoints.identity}`);
    expect(statSync(first.layout.openrc).mode & 0o077).toBe(0);
    expect(readFileSync(first.layout.keystone.conf, 'utf8')).toMatch(/password_hash_rounds = 4/);
  });

  it('is idempotent: a second up starts nothing and keeps the pids', async () => {
    const again = await up({ stateDir: dir });
    expect(again.started).toBe(false);
    expect(again.state.pids).toEqual(first.state.pids);
  });

  it('status reports every service healthy and the hash rounds', async () => {
    const st = await status(dir);
    expect(st.services.map((s) => [s.name, s.healthy])).toEqual(SERVICES.map((s) => [s, true]));
    expect(st.passwordHashRounds).toBe(4);
  });

  it('measures the complexity profile on the live processes', () => {
    const profile = measureLiveProfile(dir);
    console.log(`openstack live profile: ${JSON.stringify(profile.services.map(({ source: _s, ...rest }) => rest))}`);
    expect(profile.plane).toBe('openstack');
    expect(profile.coupling).toBe('pull');
    const byName = Object.fromEntries(profile.services.map((s) => [s.name, s]));
    for (const name of SERVICES) {
      expect(byName[name]!.processes).toBeGreaterThanOrEqual(1);
      expect(byName[name]!.memoryMiB).toBeGreaterThan(10);
      expect(byName[name]!.configLines).toBeGreaterThan(5);
    }
    expect(byName.keystone!.ports).toContain(first.state.ports.keystone);
    expect(byName.glance!.ports).toContain(first.state.ports.glance);
    expect(byName.barbican!.ports).toContain(first.state.ports.barbican);
    expect(byName.mariadb!.ports).toContain(first.state.ports.mariadb);
  });

  it('down stops exactly the processes it started, and up restarts them from the same state', async () => {
    const pids = Object.values(first.state.pids);
    const stopped = await down(dir);
    expect(stopped.map((s) => s.name).sort()).toEqual([...SERVICES].sort());
    expect(stopped.every((s) => s.result === 'stopped')).toBe(true);
    for (const pid of pids) expect(alive(pid)).toBe(false);
    expect((await status(dir)).services.every((s) => !s.running)).toBe(true);

    const warm = await up({ stateDir: dir });
    console.log(`openstack warm start (state kept): ${warm.coldStartMs} ms`);
    expect(warm.started).toBe(true);
    expect((await status(dir)).services.every((s) => s.healthy)).toBe(true);
  });

  it('refuses --with-ceph with a clear message', async () => {
    await expect(up({ stateDir: dir, withCeph: true })).rejects.toThrow(/with-ceph/);
  });
});
