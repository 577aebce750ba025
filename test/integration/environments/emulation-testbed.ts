// Shared by the emulation integration tests: root and tc checked (they FAIL, never skip, without
// them), a private build of the CLI, a work folder, stale emulations cleaned up first; removed
// afterwards (kept with EDGEPLANE_KEEP_TEST_DIRS).
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect } from 'vitest';
import { cleanupStale } from '../../../environments/emulate/index.js';
import { buildPrivateDist } from '../../unit/agent/runtime/private-build.js';

function runCli(cliPath: string, work: string, args: string[]) {
  return execa(process.execPath, [cliPath, ...args], { reject: false, cwd: work, env: { NO_COLOR: '1' } });
}

export interface EmulationTestbed {
  /** the private build's cli/main.js (set once beforeAll ran) */
  cliPath: string;
  /** the test's work folder (set once beforeAll ran) */
  work: string;
  /** `edgeplane ...args` in the work folder, never rejecting */
  cli(...args: string[]): ReturnType<typeof runCli>;
}

/** Registers the suite's beforeAll/afterAll; the testbed's fields are set once beforeAll ran. */
export function emulationTestbed(prefix: string): EmulationTestbed {
  let removeDist: () => Promise<void> = async () => {};
  const t: EmulationTestbed = {
    cliPath: '',
    work: '',
    cli: (...args) => runCli(t.cliPath, t.work, args),
  };
  beforeAll(async () => {
    expect(process.getuid?.(), 'the emulation needs root (network namespaces)').toBe(0);
    expect(spawnSync('tc', ['-V']).status, 'tc (iproute2) must be installed: scripts/install-emulate-deps.sh').toBe(0);
    const dist = await buildPrivateDist();
    t.cliPath = dist.cli;
    removeDist = dist.remove;
    t.work = await mkdtemp(join(tmpdir(), prefix));
    cleanupStale();
  }, 600_000);
  afterAll(async () => {
    await removeDist();
    if (t.work && !process.env.EDGEPLANE_KEEP_TEST_DIRS) await rm(t.work, { recursive: true, force: true });
  });
  return t;
}

export interface PlaneSummary {
  metrics: Record<string, number>;
  counters: Record<string, number>;
}

/** The first scenario's first plane of `run --json`'s summary. */
export function firstPlane(stdout: string): PlaneSummary {
  const summary = JSON.parse(stdout) as { scenarios: { planes: PlaneSummary[] }[] };
  return summary.scenarios[0]!.planes[0]!;
}
