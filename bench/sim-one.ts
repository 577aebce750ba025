// Simulates one scenario in this process and prints {wallMs, cpuMs (whole process), events, nodes, planes, maxRssMiB} as JSON.
// Run by bench/main.ts in a child process so that peak memory is measured per scenario.
import { simulate } from '../environments/index.js';
import { planes, scenarios } from '../planes/index.js';

const [name, plane] = process.argv.slice(2);
const { scenario: loaded, text } = await scenarios.load(name);
const scenario = plane ? { ...loaded, planes: loaded.planes.filter((p) => p.name === plane) } : loaded;
const t0 = performance.now();
const result = await simulate({ scenario, scenarioText: text, version: 'bench', registry: planes });
const wallMs = performance.now() - t0;
const nodes = scenario.fleet.sites * scenario.fleet.nodesPerSite;
process.stdout.write(
  `${JSON.stringify({
    scenario: scenario.name,
    planes: scenario.planes.map((p) => p.name),
    nodes,
    repeat: scenario.repeat,
    events: result.planes.reduce((sum, p) => sum + (p.counters.events ?? 0), 0),
    wallMs,
    cpuMs: (process.cpuUsage().user + process.cpuUsage().system) / 1000,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    resultLines: result.lines.length,
  })}\n`,
);
