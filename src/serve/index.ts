export { startServer, isLoopback, type ServeOptions, type RunningServer, type ExplainResponse } from './server.js';
export { runInfo, type RunInfo } from './run-info.js';
