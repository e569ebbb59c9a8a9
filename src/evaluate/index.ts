export * from './metrics.js';
export * from './evaluate.js';
export * from './format.js';
export * from './breakdown.js';
