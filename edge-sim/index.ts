export * from './engine.js';
export * from './rng.js';
export * from './network.js';
export * from './fleet.js';
export * from './runner.js';
export * from './bounds.js';
export * from './checks.js';
export { rolloutImages, streamsWhole } from './images.js';
export { NATIVE_MAX_COPY_ATTEMPTS, NATIVE_RETRY_US } from './native-node.js';
