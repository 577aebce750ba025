// A node's VM boot time in an emulation: the scenario's boot distribution, drawn on the
// emulation's own stream per (repeat, node), capped at a minute.
import { streamRng, type Fleet } from '../../edge-sim/index.js';
import type { Scenario } from '../../scenarios/index.js';

/** The simulator's boot time for a node, drawn from the scenario's distribution on the emulation's own stream. */
export function bootDelayMs(scenario: Scenario, fleet: Fleet, index: number, repeat: number): number {
  const b = fleet.nodes[index]!.boot;
  const us = b.kind === 'fixed' ? b.us : streamRng(scenario.seed, 'emulate-boot', String(repeat), fleet.nodes[index]!.id).lognormalUs(b.medianUs, b.p99Us, 0.99);
  return Math.min(60_000, Math.round(us / 1000));
}
