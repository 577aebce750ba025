// `npm run bench`: prints performance figures (never asserts on wall time in tests).
//   npm run bench                  all benchmarks
//   npm run bench -- sim           simulator: `run rollout-10k` end to end, then rollout-10k, rollout-100k, rollout-1m one thread each
//   npm run bench -- swarm         peer / site-cache / origin makespan over the bound, fleet sizes 10 to 10,000 x up/down ratios
//   npm run bench -- simpy         simulator vs a plain SimPy 3 model of rollout-10k: CPU-time ratio, makespan/p50 agreement
//   npm run bench -- network       network model micro-benchmark
//   npm run bench -- pipeline      seal/open throughput vs openssl and sha256sum
//   npm run bench -- agent         agent fetch (+verify, +decrypt) vs curl on loopback; agent peak RSS on 2 GiB
//   npm run bench -- emulate       emulate-fleet (200 real agents in agent hosts; 50 one process each): memory per agent (root; not in `npm run bench`)
//   npm run bench -- openstack     Glance downloads (curl, glance client, agent) and control-plane overhead (needs a stack)
//   npm run bench -- openstack     Glance download (curl, glance client, node client, agent fetch) on the
//                                  running stack (EDGEPLANE_OPENSTACK_STATE or .state/openstack)
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));
const wanted = new Set(process.argv.slice(2));
const want = (name: string): boolean => wanted.size === 0 || wanted.has(name);

interface SimFigures {
  scenario: string;
  planes: string[];
  nodes: number;
  events: number;
  wallMs: number;
  cpuMs: number;
  maxRssMiB: number;
}

/** One scenario simulated in a child process (so peak memory is its own), on the main thread. */
async function simBench(name: string, targetS: number, opts: { plane?: string; heapMiB?: number; rssTargetMiB?: number } = {}): Promise<void> {
  const args = [here('./sim-one.js'), name, ...(opts.plane ? [opts.plane] : [])];
  const { stdout } = await execa(process.execPath, [`--max-old-space-size=${opts.heapMiB ?? 6144}`, ...args]);
  const f = JSON.parse(stdout) as SimFigures;
  const s = f.wallMs / 1000;
  const rss = opts.rssTargetMiB ? ` (target <= ${(opts.rssTargetMiB / 1024).toFixed(0)} GiB: ${f.maxRssMiB <= opts.rssTargetMiB ? 'MET' : 'MISSED'})` : '';
  console.log(
    `sim ${f.scenario.padEnd(13)} ${String(f.nodes).padStart(7)} nodes x ${f.planes.length} plane(s) [${f.planes.join(',')}]: ` +
      `${s.toFixed(2)} s wall (target <= ${targetS} s: ${s <= targetS ? 'MET' : 'MISSED'}), ${(f.cpuMs / 1000).toFixed(2)} s CPU (whole process), ` +
      `${f.events.toLocaleString('en-US')} events, ${Math.round(f.events / s).toLocaleString('en-US')} events/s, peak RSS ${f.maxRssMiB.toFixed(0)} MiB${rss}, load average ${loadavg()[0].toFixed(1)}`,
  );
}

/** `edgeplane run` end to end (start-up, every plane on worker threads, results and report written), timed by /usr/bin/time. */
async function runBench(name: string, targetS: number): Promise<void> {
  const out = mkdtempSync(join(tmpdir(), 'edgeplane-bench-'));
  const cli = here('../cli/main.js');
  const r = await execa('/usr/bin/time', ['-f', '%e %U %S %M', process.execPath, cli, 'run', name, '--out', join(out, name), '--json'], { reject: false });
  const [wall, user, sys, rssKiB] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number);
  if (!(wall > 0) || r.exitCode! > 1) {
    console.log(`run ${name}: failed (exit ${r.exitCode}): ${r.stderr.slice(-400)}`);
    return;
  }
  const summary = JSON.parse(r.stdout) as { scenarios: { events: number }[] };
  const events = summary.scenarios.reduce((n, s) => n + s.events, 0);
  console.log(
    `run ${name} end to end (${availableParallelism()} threads, results + report): ${wall.toFixed(2)} s wall (target <= ${targetS} s: ${wall <= targetS ? 'MET' : 'MISSED'}), ` +
      `${(user + sys).toFixed(2)} s CPU, ${events.toLocaleString('en-US')} events, ${Math.round(events / wall).toLocaleString('en-US')} events/s of wall time, peak RSS ${(rssKiB / 1024).toFixed(0)} MiB, load average ${loadavg()[0].toFixed(1)}`,
  );
  rmSync(out, { recursive: true, force: true });
}

if (want('sim')) {
  await runBench('rollout-10k', 3);
  await simBench('rollout-10k', 5);
  await simBench('rollout-100k', 60);
  await simBench('rollout-1m', 120, { heapMiB: 7680, rssTargetMiB: 8192 });
  console.log('(for comparison: published edge simulators take ~58 s for 10k devices)');
}
if (want('swarm')) {
  const { benchSwarmSweep } = await import('./swarm-sweep.js');
  for (const line of await benchSwarmSweep()) console.log(line);
}
if (want('simpy')) {
  const { benchSimPy } = await import('./simpy.js');
  for (const line of await benchSimPy()) console.log(line);
}
if (want('network')) {
  const { benchNetwork } = await import('./network.js');
  for (const line of await benchNetwork()) console.log(line);
}
if (want('pipeline')) {
  const { benchPipeline } = await import('./pipeline.js');
  for (const line of await benchPipeline({ sizeMiB: 1024 })) console.log(line);
}
if (want('agent')) {
  const { benchAgentFetch } = await import('./agent-fetch.js');
  for (const line of await benchAgentFetch({ sizeMiB: 1024, rssSizeMiB: 2048 })) console.log(line);
}
// minutes of real agents on emulated links (root): only when asked for by name
if (wanted.has('emulate')) for (const line of await (await import('./emulate.js')).benchEmulate({ nodes: 200, soloNodes: 50 })) console.log(line);
if (want('openstack')) {
  const { existsSync } = await import('node:fs');
  const stateDir = process.env.EDGEPLANE_OPENSTACK_STATE ?? '.state/openstack';
  if (wanted.has('openstack') || existsSync(`${stateDir}/stack.json`)) {
    const { benchOpenStack } = await import('./openstack.js');
    for (const line of await benchOpenStack({ stateDir })) console.log(line);
  } else {
    console.log(`openstack: skipped (no stack in ${stateDir}; start one with \`edgeplane up openstack\` or run \`npm run bench -- openstack\`)`);
  }
}
