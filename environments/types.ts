// The environment layer: where a scenario's rollout runs. `sim` (the simulator, virtual time),
// `real` (real agent processes against a running plane) and `emulate` each take (scenario, plane,
// repeat) and return the same deployment records (reports/deployments.ts turns them into samples).
import type { Calibration, ComplexityProfile, PlaneDescriptor, PlaneRegistry } from '../adapters/index.js';
import type { Logger } from '../common/index.js';
import type { DeploymentRun, Meta } from '../reports/index.js';
import type { PlaneConfig, Scenario } from '../scenarios/index.js';

export type EnvName = 'sim' | 'emulate' | 'real';

export interface PlaneRunContext {
  scenario: Scenario;
  plane: PlaneConfig;
  descriptor: PlaneDescriptor;
  registry: PlaneRegistry;
  /** only for the plane it was measured on */
  calibration?: Calibration;
  logger: Logger;
  /** a repeat's progress: nodes finished of total */
  onProgress?: (repeat: number, finished: number, total: number) => void;
  /** a status line for the user (real runs) */
  say: (message: string) => void;
}

/** One plane of one scenario, prepared in an environment; its repeats run one after another. */
export interface PlaneRun {
  /** nodes the environment runs (the scenario's whole fleet, or the first N) */
  nodes: number;
  repeat(r: number): Promise<DeploymentRun>;
  /** the model assumptions, machine and calibration of the meta line (after the repeats) */
  meta(): Pick<Meta, 'assumptions'> & Partial<Pick<Meta, 'machine' | 'startedAt' | 'calibration'>>;
  /** the plane's complexity profile, for the complexity samples */
  profile(): ComplexityProfile | null;
  /** the environment's counters summed over repeats (for the log and --json) */
  counters(): Record<string, number>;
  close(): Promise<void>;
}

export interface Environment {
  readonly name: EnvName;
  /** what the results' `strategy` label says for this scenario (real runs fetch from the origin only) */
  strategyOf(scenario: Scenario): Scenario['strategy'];
  open(ctx: PlaneRunContext): Promise<PlaneRun>;
  /**
   * Optional: called once per scenario before its planes are opened, with what every plane will
   * run on (the sim environment starts all repeats of all planes on worker threads here).
   */
  prepare?(o: { scenario: Scenario; registry: PlaneRegistry; calibration?: Calibration }): void;
}
