// Micro-benchmarks of the simulator core: raw engine events/s, and the flow-level network with
// 100k concurrent flows (one origin link, 1,000 shared site WAN links, a private access link per
// node), as in the rollout-100k scenario. Returns printable lines; never asserts on wall time.
import { performance } from 'node:perf_hooks';
import { Network, Simulator, streamRng } from '../edge-sim/index.js';

const GIB = 1024 ** 3;

function maxRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024; // maxRSS is in KiB
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** 10M empty events, 10k of them pending at any time, each rescheduling itself. */
export function benchEngine(totalEvents = 10_000_000, pending = 10_000): string {
  const sim = new Simulator();
  const rng = streamRng(1, 'bench', 'engine');
  const delays = Int32Array.from({ length: 4096 }, () => rng.int(0, 10_000));
  let k = 0;
  const tick = (): void => {
    if (sim.events + pending <= totalEvents) sim.after(delays[k++ & 4095], tick);
  };
  for (let i = 0; i < pending; i++) sim.at(i, tick);
  const t0 = performance.now();
  sim.run();
  const s = (performance.now() - t0) / 1000;
  return `engine: ${fmt(sim.events)} empty events (${fmt(pending)} pending) in ${s.toFixed(2)} s = ${fmt(sim.events / s)} events/s`;
}

export interface NetworkBenchOptions {
  flows?: number;
  sites?: number;
  bytes?: number;
  /** Flow starts are spread uniformly over this window of virtual time. */
  startWindowUs?: number;
  /** Network recompute quantum (0 = exact). */
  recomputeQuantumUs?: number;
}

export function benchFlows(opts: NetworkBenchOptions = {}): string[] {
  const flows = opts.flows ?? 100_000;
  const sites = opts.sites ?? 1_000;
  const bytes = opts.bytes ?? 2 * GIB;
  const startWindowUs = opts.startWindowUs ?? 60_000_000;
  const sim = new Simulator();
  const quantum = opts.recomputeQuantumUs ?? 0;
  const net = new Network(sim, { recomputeQuantumUs: quantum });
  const rng = streamRng(7, 'bench', 'network');
  const origin = net.addLink('origin', 100e9);
  const wans = Array.from({ length: sites }, (_, i) => net.addLink(`wan-${i}`, 1e9));
  const accessTiers = [100e6, 1e9];
  let peakActive = 0;
  let done = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (let n = 0; n < flows; n++) {
    const access = net.addLink(`access-${n}`, accessTiers[n % accessTiers.length], { private: true });
    const site = wans[n % sites];
    sim.at(rng.int(0, startWindowUs), () => {
      net.startFlow({ path: [origin, site, access], bytes, onDone: () => done++ });
      if (net.activeFlows > peakActive) peakActive = net.activeFlows;
    });
  }
  sim.run();
  const s = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  const originBytes = net.linkBytes(origin);
  return [
    `network: ${fmt(flows)} flows x ${(bytes / GIB).toFixed(1)} GiB over ${fmt(sites)} WAN links + origin, private access links; ` +
      `starts over ${(startWindowUs / 1e6).toFixed(0)} s virtual, recompute quantum ${quantum === 0 ? 'none (exact)' : `${quantum / 1000} ms`}`,
    `network: ${s.toFixed(2)} s wall (${cpuS.toFixed(2)} s CPU), ${fmt(flows / s)} flows/s, ${fmt(net.recomputes)} recomputes (${((s * 1e6) / net.recomputes).toFixed(1)} us each incl. events), ` +
      `${fmt(sim.events)} events, peak ${fmt(peakActive)} concurrent flows, makespan ${(sim.now / 1e6).toFixed(0)} s virtual`,
    `network: completed ${fmt(done)}/${fmt(flows)}, origin egress ${(originBytes / GIB).toFixed(0)} GiB (expected ${((flows * bytes) / GIB).toFixed(0)}), peak RSS ${maxRssMiB().toFixed(0)} MiB`,
  ];
}

export async function benchNetwork(): Promise<string[]> {
  return [benchEngine(), ...benchFlows(), ...benchFlows({ recomputeQuantumUs: 10_000 })];
}
