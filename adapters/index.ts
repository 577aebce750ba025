export * from './model.js';
export * from './registry.js';
export * from './node-plane.js';
