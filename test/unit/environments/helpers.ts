import { parseScenario, type Scenario } from '../../../scenarios/index.js';

/** A scenario from YAML text written in the test (validated by the real schema). */
export function scenario(yaml: string): Scenario {
  return parseScenario(yaml, 'test.yaml');
}
