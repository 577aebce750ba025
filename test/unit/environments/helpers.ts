import { scenarios } from '../../../planes/index.js';
import type { Scenario } from '../../../scenarios/index.js';

/** A scenario from YAML text written in the test (validated by the real schema). */
export function scenario(yaml: string): Scenario {
  return scenarios.parse(yaml, 'test.yaml');
}
