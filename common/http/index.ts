// HTTP server helpers, apart from common/index.ts so that the simulator's closure stays free of node:http.
export { listenTracked, type TrackedServer } from './tracked-server.js';
