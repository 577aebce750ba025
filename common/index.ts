export * from './errors.js';
export * from './input-file.js';
export * from './log.js';
export * from './output.js';
export * from './package.js';
export * from './quantile.js';
export * from './process.js';
export * from './random-file.js';
