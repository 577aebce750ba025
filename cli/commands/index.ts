import type { Command } from 'commander';
import * as agent from './agent.js';
import * as agreement from './agreement.js';
import * as calibrate from './calibrate.js';
import * as fleet from './fleet.js';
import * as gate from './gate.js';
import * as image from './image.js';
import * as nodes from './nodes.js';
import * as report from './report.js';
import * as run from './run.js';
import * as scenarios from './scenarios.js';
import * as testPlane from './test-plane.js';
import * as up from './up.js';

// One line per command module; each module exports `register(program)`.
const modules: { register(program: Command): void }[] = [run, scenarios, report, gate, up, image, agent, testPlane, calibrate, fleet, agreement, nodes];

export function registerCommands(program: Command): void {
  for (const m of modules) m.register(program);
}
