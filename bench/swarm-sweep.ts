// `npm run bench -- swarm`: the peer strategy against its Kumar–Ross bound across fleet sizes and
// up/down ratios (issue 9 item 1: median ≤ 1.1×, never below). Service times near zero, boot 0,
// a fast disk, start-up jitter 0 and a 1 ms RTT, so the data path alone sets the makespan; each run's ratio is
// the simulator's own makespan over the largest link term of its bound (the report's figure).
import { loadavg } from 'node:os';
import { nearFreeCalibration } from '../adapters/index.js';
import { simulate } from '../environments/index.js';
import { planes, scenarios } from '../planes/index.js';
import type { Sample } from '../reports/index.js';

const SIZES = [10, 100, 1000, 10_000];
/** node uplink over downlink */
const UP_DOWN = [0.1, 0.5, 1];
const STRATEGIES = ['peer', 'site-cache', 'origin'] as const;

function yaml(nodes: number, upDown: number, strategy: string): string {
  const perSite = Math.min(nodes, 100);
  return `
name: swarm-sweep
seed: 1
fleet:
  sites: ${Math.ceil(nodes / perSite)}
  nodesPerSite: ${perSite}
  node: {access: {down: 100Mbit, up: ${Math.round(100 * upDown)}Mbit, rtt: 1ms}, boot: 0s, disk: 100Gbit}
  site: {wan: {down: 10Gbit, up: 10Gbit, rtt: 1ms}, lan: 100Gbit}
origin: {uplink: 1Gbit, rtt: 1ms}
image: {size: 1GiB, chunk: 4MiB}
planes: [openstack]
strategy: ${strategy}
clients: {startJitter: 0s}
swarm: {scope: fleet}
`;
}

const value = (samples: Sample[], metric: string): number => samples.find((s) => s.metric === metric && s.labels.repeat === 0 && s.labels.node === undefined)?.value ?? Number.NaN;
const binding = (samples: Sample[]): string => String(samples.find((s) => s.metric === 'bound_binding' && s.labels.repeat === 0)?.labels.kind ?? '?');
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export async function benchSwarmSweep(): Promise<string[]> {
  const lines = [`swarm sweep: 1 GiB (256 pieces), nodes ${SIZES.join(', ')} x up/down ${UP_DOWN.join(', ')}, origin 1 Gbit, access 100 Mbit down, scope fleet; load average ${loadavg()[0].toFixed(1)} at start`];
  const model = planes.model('openstack', 'agent', { placement: 'pinned', flags: {} });
  const calibration = nearFreeCalibration(model, 'bench: service times near zero');
  for (const strategy of STRATEGIES) {
    const ratios: number[] = [];
    for (const n of SIZES) {
      for (const r of UP_DOWN) {
        if (strategy !== 'peer' && r !== UP_DOWN[0]) continue; // uplinks matter to peers only
        const c0 = process.cpuUsage();
        const res = await simulate({ scenario: scenarios.parse(yaml(n, r, strategy), 'sweep.yaml'), scenarioText: '', version: 'bench', registry: planes, calibration });
        const cpu = process.cpuUsage(c0);
        const ratio = value(res.samples, 'makespan_ratio_to_bound');
        ratios.push(ratio);
        lines.push(
          `  ${strategy.padEnd(10)} ${String(n).padStart(6)} nodes, up/down ${r.toFixed(1)}: makespan ${value(res.samples, 'makespan').toFixed(1)} s, bound ${value(res.samples, 'makespan_lower_bound').toFixed(1)} s (${binding(res.samples)}), ${ratio.toFixed(3)}x; violations ${value(res.samples, 'fidelity_violations')}; ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s CPU`,
        );
      }
    }
    const below = ratios.filter((x) => x < 1).length;
    lines.push(
      `  ${strategy}: median ${median(ratios).toFixed(3)}x, max ${Math.max(...ratios).toFixed(3)}x the bound over ${ratios.length} runs${below ? `; ${below} BELOW the bound` : ', none below it'}${strategy === 'peer' ? ` (target median <= 1.1x: ${median(ratios) <= 1.1 ? 'MET' : 'MISSED'})` : ''}`,
    );
  }
  return lines;
}
