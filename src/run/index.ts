export * from './atomic.js';
export * from './modelio.js';
export * from './hash.js';
export * from './files.js';
export * from './load.js';
export * from './run-model.js';
export * from './trust.js';
export * from './templates.js';
