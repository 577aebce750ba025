export * from './model.js';
export * from './registry.js';
