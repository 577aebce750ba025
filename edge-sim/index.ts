export * from './engine.js';
export * from './rng.js';
export * from './network.js';
export * from './fleet.js';
export * from './runner.js';
export * from './bounds.js';
export * from './checks.js';
