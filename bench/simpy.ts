// `npm run bench -- simpy`: edgeplane against a plain SimPy 3 model of the same rollout
// (bench/simpy/rollout.py, fed edgeplane's own figures by bench/simpy/export.ts). Prints, per
// plane and in all, the CPU time of each simulator (simulation only, same process, same run) and
// how far the SimPy model's makespan and p50 are from edgeplane's (target: within 2%).
//   node dist/bench/simpy.js [scenario]     (default rollout-10k; needs Debian's python3-simpy3)
import { writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { simulate } from '../environments/index.js';
import { planes, scenarios } from '../planes/index.js';
import { exportScenario } from './simpy/export.js';

/** Debian's interpreter, where python3-simpy3 installs SimPy 3 (another python3 on PATH may lack it). */
const PYTHON = process.env.EDGEPLANE_SIMPY_PYTHON ?? '/usr/bin/python3';
const MODEL = fileURLToPath(new URL('../../bench/simpy/rollout.py', import.meta.url));

interface SimPyPlane {
  plane: string;
  p50_s: number;
  makespan_s: number;
  cpu_s: number;
  finished: number;
  nodes: number;
}

const pct = (a: number, b: number): string => `${(((a - b) / b) * 100).toFixed(2)}%`;

export async function benchSimPy(name = 'rollout-10k'): Promise<string[]> {
  const probe = await execa(PYTHON, ['-c', 'import simpy; print(simpy.__version__)'], { reject: false });
  if (probe.exitCode !== 0) return [`simpy: skipped (${PYTHON} cannot import simpy; install Debian's python3-simpy3: scripts/install-test-deps.sh)`];
  const { scenario, text } = await scenarios.load(name);
  const modelFile = join(tmpdir(), `edgeplane-simpy-${process.pid}.json`);
  writeFileSync(modelFile, JSON.stringify(exportScenario(scenario)));
  const lines = [`simpy: ${scenario.name}, SimPy ${probe.stdout.trim()} (${PYTHON}) vs edgeplane, CPU time of the simulation, load average ${loadavg()[0].toFixed(1)} at start`];
  let ourCpu = 0;
  let theirCpu = 0;
  let worst = 0;
  for (const plane of scenario.planes) {
    const one = { ...scenario, planes: [plane] };
    const c0 = process.cpuUsage();
    const r = await simulate({ scenario: one, scenarioText: text, version: 'bench', registry: planes });
    const c = process.cpuUsage(c0);
    const cpu = (c.user + c.system) / 1e6;
    const m = r.planes[0].metrics;
    const py = await execa(PYTHON, [MODEL, modelFile, '--plane', plane.name]);
    const s = JSON.parse(py.stdout.trim().split('\n').pop()!) as SimPyPlane;
    ourCpu += cpu;
    theirCpu += s.cpu_s;
    const dMake = Math.abs(s.makespan_s - m.makespan) / m.makespan;
    const dP50 = Math.abs(s.p50_s - m.deploy_latency_p50) / m.deploy_latency_p50;
    worst = Math.max(worst, dMake, dP50);
    lines.push(
      `  ${`${plane.name}/${plane.mode}`.padEnd(18)} edgeplane ${cpu.toFixed(2)} s CPU, SimPy ${s.cpu_s.toFixed(2)} s CPU: ${(s.cpu_s / cpu).toFixed(1)}x; ` +
        `makespan ${m.makespan.toFixed(0)} s vs ${s.makespan_s.toFixed(0)} s (${pct(s.makespan_s, m.makespan)}), p50 ${m.deploy_latency_p50.toFixed(0)} s vs ${s.p50_s.toFixed(0)} s (${pct(s.p50_s, m.deploy_latency_p50)})` +
        (s.finished < s.nodes ? `; SimPy finished only ${s.finished}/${s.nodes}` : ''),
    );
  }
  const ratio = theirCpu / ourCpu;
  lines.push(
    `  all planes: edgeplane ${ourCpu.toFixed(2)} s CPU, SimPy ${theirCpu.toFixed(2)} s CPU: ${ratio.toFixed(1)}x (target >= 20x: ${ratio >= 20 ? 'MET' : 'MISSED'}); ` +
      `largest makespan/p50 difference ${(worst * 100).toFixed(2)}% (target <= 2%: ${worst <= 0.02 ? 'MET' : 'MISSED'}); load average ${loadavg()[0].toFixed(1)} at end`,
  );
  return lines;
}

if (process.argv[1]?.endsWith('simpy.js')) {
  for (const line of await benchSimPy(process.argv[2])) console.log(line);
}
