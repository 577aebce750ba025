// The emulated fleet's size and cost (`npm run bench -- emulate`, root): the shipped emulate-fleet
// scenario (200 nodes over 10 sites, a 4 MiB image) run with `--env emulate` by the built CLI,
// once per configuration, and the memory per agent it recorded (results.ndjson): VmHWM, private
// bytes and PSS of the agent processes (an agent host's divided by its agent machines), with CPU
// seconds per agent machine and of the relays and the plane's service, fleet start-up and the
// rollout's makespan, beside the load average. Not a timed test: the figures depend on the load.
//   node dist/bench/emulate.js [nodes=200] [agentsPerProcess=default] [soloNodes=50]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const MiB = 1024 * 1024;

interface Figures {
  nodes: number;
  processes: number;
  peakRssMiB: number;
  privateMiB: number;
  pssMiB: number;
  agentCpuS: number;
  relayCpuS: number;
  serviceCpuS: number;
  fleetUpS: number;
  makespanS: number;
  p50S: number;
  failures: number;
}

function figures(resultsFile: string): Figures {
  const v = new Map<string, number>();
  for (const line of readFileSync(resultsFile, 'utf8').trim().split('\n')) {
    const s = JSON.parse(line) as { type?: string; metric?: string; value?: number; labels?: { repeat?: unknown; node?: string; phase?: string; nodes?: number } };
    if (s.type === 'meta' || s.metric === undefined || s.labels?.node !== undefined || s.labels?.phase !== undefined) continue;
    if (s.labels?.repeat === 0) v.set(s.metric, s.value ?? 0);
    if (s.metric === 'makespan' && s.labels?.nodes !== undefined) v.set('nodes', s.labels.nodes);
  }
  const g = (k: string) => v.get(k) ?? Number.NaN;
  return {
    nodes: g('nodes'),
    processes: g('emulate_agent_processes'),
    peakRssMiB: g('emulate_agent_peak_rss') / MiB,
    privateMiB: g('emulate_agent_private_memory') / MiB,
    pssMiB: g('emulate_agent_pss') / MiB,
    agentCpuS: g('emulate_agent_cpu'),
    relayCpuS: g('emulate_relay_cpu'),
    serviceCpuS: g('emulate_service_cpu'),
    fleetUpS: g('emulate_fleet_up'),
    makespanS: g('makespan'),
    p50S: g('deploy_latency_p50'),
    failures: g('failures'),
  };
}

/** One emulated run of emulate-fleet; a line of figures, or why it failed. */
async function emulateRun(nodes: number, agentsPerProcess: number | undefined): Promise<string> {
  const out = mkdtempSync(join(tmpdir(), 'edgeplane-bench-emulate-'));
  const load0 = loadavg()[0];
  const args = [CLI, 'run', 'emulate-fleet', '--env', 'emulate', '--nodes', String(nodes), '--out', join(out, 'run'), '--json', ...(agentsPerProcess ? ['--agents-per-process', String(agentsPerProcess)] : [])];
  const r = await execa('/usr/bin/time', ['-f', '%e %U %S', process.execPath, ...args], { reject: false });
  const label = `emulate ${String(nodes).padStart(3)} agents${agentsPerProcess ? `, ${agentsPerProcess} per process` : ''}`;
  try {
    if (r.exitCode !== 0) return `${label}: failed (exit ${r.exitCode}): ${r.stderr.slice(-600)}`;
    const [wall, user, sys] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number);
    const f = figures(join(out, 'run', 'results.ndjson'));
    return (
      `${label} in ${f.processes} process(es): memory per agent private ${f.privateMiB.toFixed(1)} MiB, PSS ${f.pssMiB.toFixed(1)} MiB, peak RSS ${f.peakRssMiB.toFixed(1)} MiB; ` +
      `CPU per agent ${f.agentCpuS.toFixed(2)} s, relays ${f.relayCpuS.toFixed(1)} s, service ${f.serviceCpuS.toFixed(1)} s; fleet up ${f.fleetUpS.toFixed(0)} s, ` +
      `makespan ${f.makespanS.toFixed(1)} s, p50 ${f.p50S.toFixed(1)} s, ${f.failures} failed; whole run ${wall.toFixed(0)} s wall, ${(user + sys).toFixed(0)} s CPU; load average ${load0.toFixed(1)} -> ${loadavg()[0].toFixed(1)}`
    );
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

export async function benchEmulate(o: { nodes: number; agentsPerProcess?: number; soloNodes: number }): Promise<string[]> {
  if (process.getuid?.() !== 0) return ['emulate: skipped (needs root: network namespaces)'];
  const lines: string[] = [];
  // a process per agent, as the small emulations run, then the fleet in agent hosts
  if (o.soloNodes > 0) lines.push(await emulateRun(o.soloNodes, 1));
  lines.push(await emulateRun(o.nodes, o.agentsPerProcess));
  return lines;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [nodes, per, solo] = process.argv.slice(2).map(Number);
  for (const line of await benchEmulate({ nodes: nodes || 200, agentsPerProcess: per || undefined, soloNodes: Number.isFinite(solo) ? solo : 50 })) console.log(line);
}
