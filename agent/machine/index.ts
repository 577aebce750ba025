export * from './types.js';
export { DEFAULT_AGENT_CONFIG, emptyPersisted, initialState, step } from './machine.js';
export { UNKNOWN_IMAGE } from './draft.js';
export { backoffCeilingUs, backoffDelayUs, nextRandom } from './backoff.js';
