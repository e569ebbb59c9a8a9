export * from './predict.js';
