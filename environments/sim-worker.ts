// The loop of one simulation worker thread: jobs in, plain-data runs out (see sim-pool.ts). The
// registry comes from the composition root (planes/sim-worker.ts), which this folder may not import.
import { parentPort, workerData } from 'node:worker_threads';
import type { PlaneRegistry } from '../adapters/index.js';
import { expandFleet, setSimulatorLimits, type Fleet } from '../edge-sim/index.js';
import { answerMessage, claimJob, type SimJobMessage } from './sim-pool.js';
import { runSimJob } from './sim.js';

export function serveSimWorker(registry: PlaneRegistry): void {
  const port = parentPort;
  if (!port) throw new Error('serveSimWorker runs on a worker thread');
  // one expanded fleet per scenario, the latest only (a thread serves one scenario at a time)
  let fleet: { id: number; fleet: Fleet } | null = null;
  const thread = (workerData as { thread: number }).thread;
  port.on('message', (m: SimJobMessage) => {
    // every thread is offered every job: this one runs it only if no other thread claimed it first
    if (!claimJob(m, thread)) return;
    const { message, transfer } = answerMessage(m.id, () => {
      setSimulatorLimits(m.job.limits);
      return runSimJob(m.job, registry, (scenario) => {
        if (fleet?.id !== m.scenarioId) fleet = { id: m.scenarioId, fleet: expandFleet(scenario) };
        return fleet.fleet;
      });
    });
    port.postMessage(message, transfer);
  });
}
