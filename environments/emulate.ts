// The `emulate` environment (real agents on an emulated WAN: network namespaces, tc shaping)
// is not built yet: asking for it is a clear "not supported".
import { NotSupportedError } from '../common/index.js';
import type { Environment } from './types.js';

export const emulateEnvironment: Environment = {
  name: 'emulate',
  strategyOf: (scenario) => scenario.strategy,
  open: async () => {
    throw new NotSupportedError('--env emulate for `edgeplane run` (the simulator, --env sim, and real agents, --env real, are implemented)');
  },
};
