// A front-end of its own (port base 46040, see frontend.ts): `up` is idempotent, `status` sees every daemon and the
// detached monitoring client, oned stopped (SIGTERM, SIGKILL) mid-rollout and started again resumes
// the rollout with no VM duplicated, and `down` stops exactly what `up` started (the monitoring client included).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../common/index.js';
import { down, isRunning, loadFrontEnd, OneClient, oneLayout, poolHosts, processesMatching, registerImage, rollOut, status, up, vmTemplateBody } from '../../../control-opennebula/index.js';
import { START_TIMEOUT_MS, startFrontEnd, TEST_PORTS, type TestFrontEnd } from './frontend.js';

let fe: TestFrontEnd;

beforeAll(async () => {
  fe = await startFrontEnd(40, 2);
}, START_TIMEOUT_MS);
afterAll(async () => {
  await fe?.release();
}, 120_000);

const upAgain = () => up({ stateDir: fe.stateDir, logger: silentLogger, onProgress: () => {} });

describe('the local front-end', () => {
  it('runs oned, mm_sched, the edge services and the dummy IM monitoring client; the configs carry the required changes', async () => {
    const st = await status(fe.stateDir);
    expect(st.api.healthy).toBe(true);
    expect(st.version).toBe('6.10.5');
    expect(st.daemons.every((d) => d.running)).toBe(true);
    expect(st.hosts.filter((h) => h.state === 2)).toHaveLength(2);
    const l = oneLayout(fe.stateDir);
    const oned = readFileSync(join(l.etc, 'oned.conf'), 'utf8');
    expect(oned).toMatch(/EXECUTABLE = "one_vmm_dummy"/);
    expect(oned).toContain('-s dummy,shared');
    expect(oned).toContain('TIMEOUT = 10000');
    expect(readFileSync(join(l.etc, 'monitord.conf'), 'utf8')).toContain(`PORT    = ${TEST_PORTS + 43},`);
  });
  it('up again starts nothing new', async () => {
    const before = loadFrontEnd(fe.stateDir).state.pids;
    await upAgain();
    expect(loadFrontEnd(fe.stateDir).state.pids).toEqual(before);
  }, 120_000);
  // SIGTERM: oned stops cleanly (its drivers first, ~8 s); SIGKILL: it leaves its lock file
  // (var/lock/.lock), which made the next start fail with "Cannot start oned, opening lock file"
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`oned stopped (${signal}) mid-rollout and started again: the rollout resumes, no VM is duplicated`, async () => {
      const { credentials, state, layout } = loadFrontEnd(fe.stateDir);
      const admin = new OneClient({ ...credentials });
      const hosts = await poolHosts(admin, [`restart-${signal}-a`, `restart-${signal}-b`], `restart-${signal}`);
      const image = await registerImage(admin, 'restart-image', 64);
      const tag = `restart-${signal}-${Date.now()}`;
      const targets = hosts.map((hostId, i) => ({ node: `n${i}`, hostId, vmName: `${tag}-vm${i}` }));
      const rollout = rollOut({ ...credentials, targets, placement: 'pinned', vmTemplate: vmTemplateBody(image), t0: performance.now(), pollMs: 20, timeoutMs: 300_000, stuckMs: 10_000 });
      // stop oned while the VMs are on their way (right after the first allocations)
      await new Promise((r) => setTimeout(r, 30));
      process.kill(state.pids.oned!, signal);
      const deadline = Date.now() + 60_000;
      while (isRunning(state.pids.oned, join(layout.prefix, 'bin', 'oned')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      expect(isRunning(state.pids.oned, join(layout.prefix, 'bin', 'oned'))).toBe(false);
      if (signal === 'SIGKILL') expect(existsSync(layout.lockFile)).toBe(true);
      await upAgain();
      const after = loadFrontEnd(fe.stateDir).state.pids.oned;
      expect(after).not.toBe(state.pids.oned);
      const ds = await rollout;
      for (const d of ds) expect(d.outcome, d.reason).toBe('running');
      expect(ds.every((d) => d.intended)).toBe(true);
      expect(ds.reduce((n, d) => n + d.unreachable, 0)).toBeGreaterThan(0);
      const mine = (await admin.vmPool(-1)).filter((v) => v.NAME.startsWith(tag));
      expect(mine.map((v) => v.NAME).sort()).toEqual(targets.map((t) => t.vmName).sort());
      expect(new Set(ds.map((d) => d.vmId)).size).toBe(targets.length);
      await admin.close();
    }, 600_000);
  }
  it('down stops exactly what up started, the detached monitoring client included', async () => {
    const l = oneLayout(fe.stateDir);
    const { state } = loadFrontEnd(fe.stateDir);
    const stopped = await down(fe.stateDir);
    const names = stopped.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['oned', 'mm_sched', 'edge-services']));
    expect(processesMatching(l.remoteScripts)).toEqual([]);
    expect(processesMatching(`${l.prefix}/`)).toEqual([]);
    for (const pid of Object.values(state.pids)) expect(isRunning(pid, fe.stateDir)).toBe(false);
    const st = await status(fe.stateDir);
    expect(st.api.healthy).toBe(false);
  }, 120_000);
});
