/**
 * Library API. Everything the CLI does is available here to TypeScript users.
 * Importing this module has no side effects beyond loading TensorFlow.js.
 */
export * from './types.js';
export * from './errors.js';
export * from './util/rng.js';
export type * from './data/types.js';
export * from './backend/index.js';
export * from './model/index.js';
