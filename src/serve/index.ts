export { startServer, isLoopback, type ServeOptions, type RunningServer, type RunInfo, type ExplainResponse } from './server.js';
