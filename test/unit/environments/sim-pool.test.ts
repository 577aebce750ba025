// The pool hands jobs to its worker threads while the calling thread runs one synchronously (the
// threads claim what they are offered; they do not wait for the caller's event loop).
import { describe, expect, it } from 'vitest';
import { CALLER, type PoolJob, SimPool, type SimJob, type SimJobResult } from '../../../environments/sim-pool.js';

const WORKER = new URL('../../fixtures/sim-pool/claiming-worker.mjs', import.meta.url);

describe('SimPool', () => {
  it('lets a worker thread run later jobs while the caller runs the first one synchronously', async () => {
    const ranHere: number[] = [];
    let claimedMeanwhile = false;
    const pool = new SimPool(WORKER, 2, (job) => {
      ranHere.push(job.repeat);
      // the caller never turns its event loop here: the worker must claim the next job on its own
      const until = Date.now() + 30_000;
      while (Date.now() < until && !claimedMeanwhile) claimedMeanwhile = Atomics.load(jobs[1].message.claim, 0) === CALLER + 1;
      return { data: { ranOn: CALLER } } as unknown as SimJobResult;
    });
    const job = (repeat: number) => ({ scenario: { name: 'pool' }, plane: {}, repeat, limits: {} }) as unknown as SimJob;
    const jobs: PoolJob[] = [0, 1, 2].map((r) => pool.submit(job(r)));
    pool.closeWhenIdle();
    const ranOn = [];
    for (const j of jobs) ranOn.push(((await pool.result(j)).data as unknown as { ranOn: number }).ranOn);
    expect(claimedMeanwhile).toBe(true);
    expect(ranOn[0]).toBe(CALLER);
    expect(ranOn.slice(1)).toEqual([CALLER + 1, CALLER + 1]);
    expect(ranHere).toEqual([0]);
  });
});
