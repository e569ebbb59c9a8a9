export * from './train.js';
export * from './data.js';
export * from './recipes.js';
export * from './checkpoint.js';
export * from './search.js';
