// A pool of worker threads for simulated runs, with the calling thread as one of its workers.
// Every job is offered to every thread the moment it is submitted, with a claim word in shared
// memory: whoever claims it first (an atomic compare-and-exchange) runs it, the others drop it.
// The calling thread claims a job when it needs that job's answer, and while it waits for a job
// a thread runs, it claims the newest waiting one (so no core idles). The threads need no turn of
// the calling thread's event loop to get their next job: the caller usually runs a job
// synchronously and would otherwise hand out nothing until it is done. Every job's answer
// resolves its own promise. Errors keep their class where it matters for exit codes: an
// InputError (over budget, bad input) stays one, anything else is internal.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Calibration } from '../adapters/index.js';
import { EdgeplaneError, EXIT, InputError } from '../common/index.js';
import { SimulationBudgetError, type SimulatorLimits } from '../edge-sim/index.js';
import type { PlaneConfig, Scenario } from '../scenarios/index.js';
import type { SimRunData } from './sim.js';

export interface SimJob {
  scenario: Scenario;
  plane: PlaneConfig;
  repeat: number;
  calibration?: Calibration;
  /** the calling thread's simulator limits (checkBudget armed them there) */
  limits: SimulatorLimits;
}

export interface SimJobResult {
  data: SimRunData;
}

/** What travels to a worker: the job, with the scenario named by an id so each thread expands its fleet once. */
export interface SimJobMessage {
  id: number;
  scenarioId: number;
  job: SimJob;
  /** one Int32 in shared memory: 0 unclaimed, else the claiming thread's number (CALLER or a worker's) */
  claim: Int32Array;
}

/** The calling thread's number in a claim word (worker threads are 2, 3, ...). */
export const CALLER = 1;

/** Claims the job for thread `by`; false when another thread has it already. */
export function claimJob(m: SimJobMessage, by: number): boolean {
  return Atomics.compareExchange(m.claim, 0, 0, by) === 0;
}

interface ErrorData {
  name: string;
  message: string;
  exitCode: number;
  details: string[];
}

export type SimWorkerMessage = { id: number; ok: true; result: SimJobResult } | { id: number; ok: false; error: ErrorData };

/** A submitted job: `answer` settles once, wherever it ran. */
export class PoolJob {
  /** answered (who ran it is in the claim word) */
  done = false;
  readonly answer: Promise<SimJobResult>;
  resolve!: (r: SimJobResult) => void;
  reject!: (e: Error) => void;

  constructor(readonly message: SimJobMessage) {
    this.answer = new Promise((resolve, reject) => {
      this.resolve = (r) => {
        this.done = true;
        resolve(r);
      };
      this.reject = (e) => {
        this.done = true;
        reject(e);
      };
    });
    this.answer.catch(() => {}); // read by whoever needs it; an unread failure is not news
  }
}

const scenarioIds = new WeakMap<Scenario, number>();
let nextScenarioId = 1;

export class SimPool {
  private readonly workers: { worker: Worker; number: number }[] = [];
  /** submitted and not yet answered, by id */
  private readonly open = new Map<number, PoolJob>();
  private nextId = 1;
  private closing = false;

  /** One thread per CPU the process may use. */
  static defaultThreads(): number {
    return Math.max(1, availableParallelism());
  }

  /** `threads` counts the calling thread: threads - 1 worker threads are started. */
  constructor(
    private readonly entry: URL,
    threads: number,
    private readonly runHere: (job: SimJob) => SimJobResult,
  ) {
    for (let i = 1; i < threads; i++) this.spawn(CALLER + i);
  }

  submit(job: SimJob): PoolJob {
    let scenarioId = scenarioIds.get(job.scenario);
    if (scenarioId === undefined) {
      scenarioId = nextScenarioId++;
      scenarioIds.set(job.scenario, scenarioId);
    }
    const j = new PoolJob({ id: this.nextId++, scenarioId, job, claim: new Int32Array(new SharedArrayBuffer(4)) });
    this.open.set(j.message.id, j);
    j.answer.then(
      () => this.settled(j),
      () => this.settled(j),
    );
    // a thread still starting up reads its messages once it is ready
    for (const { worker } of this.workers) worker.postMessage(j.message);
    return j;
  }

  /** The job's answer: run here if no thread claimed it; while a thread runs it, run newer unclaimed jobs here. */
  async result(j: PoolJob): Promise<SimJobResult> {
    if (claimJob(j.message, CALLER)) this.runOnCaller(j);
    while (!j.done) {
      const newest = [...this.open.values()].reverse().find((o) => claimJob(o.message, CALLER));
      if (!newest) break;
      this.runOnCaller(newest);
      // let the threads' answers that arrived meanwhile in
      await new Promise((r) => setImmediate(r));
    }
    return j.answer;
  }

  /** Threads end once every submitted job has answered. */
  closeWhenIdle(): void {
    this.closing = true;
    this.endIfIdle();
  }

  private runOnCaller(j: PoolJob): void {
    try {
      j.resolve(this.runHere(j.message.job));
    } catch (err) {
      j.reject(err as Error);
    }
  }

  private settled(j: PoolJob): void {
    this.open.delete(j.message.id);
    this.endIfIdle();
  }

  private endIfIdle(): void {
    if (!this.closing || this.open.size > 0) return;
    for (const { worker } of this.workers) void worker.terminate();
    this.workers.length = 0;
  }

  private spawn(number: number): void {
    const worker = new Worker(this.entry, { workerData: { thread: number } });
    this.workers.push({ worker, number });
    worker.on('message', (m: SimWorkerMessage) => {
      const j = this.open.get(m.id);
      if (!j) return;
      if (m.ok) j.resolve(m.result);
      else j.reject(asError(m.error));
    });
    worker.on('error', (err) => this.lost(number, err));
    worker.on('exit', (code) => this.lost(number, new Error(`simulation worker thread exited with code ${code}`)));
  }

  /** A thread died (out of memory, a crash): the jobs it claimed fail, the others go on without it. */
  private lost(number: number, err: Error): void {
    const i = this.workers.findIndex((w) => w.number === number);
    if (i >= 0) this.workers.splice(i, 1);
    for (const j of this.open.values()) if (Atomics.load(j.message.claim, 0) === number) j.reject(err);
  }
}

function asError(e: ErrorData): Error {
  if (e.name === 'SimulationBudgetError') return new SimulationBudgetError(e.message, e.details);
  if (e.exitCode === EXIT.INVALID_INPUT) return new InputError(e.message, e.details);
  if (e.exitCode === EXIT.ENVIRONMENT || e.exitCode === EXIT.FAILED_CHECK) return new EdgeplaneError(e.message, e.exitCode, e.details);
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}

/** The worker side: a job's answer as a message, with the records' typed arrays moved rather than copied. */
export function answerMessage(id: number, run: () => SimJobResult): { message: SimWorkerMessage; transfer: ArrayBuffer[] } {
  try {
    const result = run();
    const transfer: ArrayBuffer[] = [];
    for (const v of Object.values(result.data.records)) {
      if (ArrayBuffer.isView(v) && v.buffer instanceof ArrayBuffer && v.byteOffset === 0 && v.byteLength === v.buffer.byteLength && !transfer.includes(v.buffer)) transfer.push(v.buffer);
    }
    return { message: { id, ok: true, result }, transfer };
  } catch (err) {
    const e = err as Error;
    const exitCode = err instanceof EdgeplaneError ? err.exitCode : -1;
    const details = err instanceof EdgeplaneError ? err.details : [];
    return { message: { id, ok: false, error: { name: e?.name ?? 'Error', message: e?.message ?? String(err), exitCode, details } }, transfer: [] };
  }
}
