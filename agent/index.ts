export * from './machine/index.js';
export * from './runtime/index.js';
export * from './hypervisor/index.js';
