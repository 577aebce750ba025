// Entry of the simulator's worker threads (environments/sim-pool.ts starts them): the composition
// root's plane registry, served by the sim environment's worker loop.
import { serveSimWorker } from '../environments/index.js';
import { planes } from './index.js';

serveSimWorker(planes);
