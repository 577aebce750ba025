// A pool of worker threads for simulated runs, with the calling thread as one of its workers.
// Jobs wait in submission order; a worker thread takes the oldest once it is ready, and the
// calling thread runs a job itself when it needs that job's answer and no thread has taken it,
// or, while it waits for a job a thread is running, takes the newest waiting job (so no core
// idles). Every job's answer resolves its own promise. Errors keep their class where it matters
// for exit codes: an InputError (over budget, bad input) stays one, anything else is internal.
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
}

interface ErrorData {
  name: string;
  message: string;
  exitCode: number;
  details: string[];
}

export type SimWorkerMessage = { ready: true } | { id: number; ok: true; result: SimJobResult } | { id: number; ok: false; error: ErrorData };

/** A submitted job: `answer` settles once, wherever it ran. */
export class PoolJob {
  state: 'queued' | 'running' | 'done' = 'queued';
  readonly answer: Promise<SimJobResult>;
  resolve!: (r: SimJobResult) => void;
  reject!: (e: Error) => void;

  constructor(readonly message: SimJobMessage) {
    this.answer = new Promise((resolve, reject) => {
      this.resolve = (r) => {
        this.state = 'done';
        resolve(r);
      };
      this.reject = (e) => {
        this.state = 'done';
        reject(e);
      };
    });
    this.answer.catch(() => {}); // read by whoever needs it; an unread failure is not news
  }
}

const scenarioIds = new WeakMap<Scenario, number>();
let nextScenarioId = 1;

export class SimPool {
  private readonly ready: Worker[] = [];
  private readonly all: Worker[] = [];
  private readonly queue: PoolJob[] = [];
  private readonly running = new Map<Worker, PoolJob>();
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
    for (let i = 1; i < threads; i++) this.spawn();
  }

  submit(job: SimJob): PoolJob {
    let scenarioId = scenarioIds.get(job.scenario);
    if (scenarioId === undefined) {
      scenarioId = nextScenarioId++;
      scenarioIds.set(job.scenario, scenarioId);
    }
    const j = new PoolJob({ id: this.nextId++, scenarioId, job });
    this.queue.push(j);
    this.dispatch();
    return j;
  }

  /** The job's answer: run here if no thread took it; while a thread runs it, run newer waiting jobs here. */
  async result(j: PoolJob): Promise<SimJobResult> {
    if (j.state === 'queued') this.runOnCaller(this.queue.splice(this.queue.indexOf(j), 1)[0]);
    while (j.state === 'running' && this.queue.length > 0) {
      this.runOnCaller(this.queue.pop()!);
      // let the threads' answers that arrived meanwhile in
      await new Promise((r) => setImmediate(r));
    }
    return j.answer;
  }

  /** Threads end once no job waits and every running job has answered. */
  closeWhenIdle(): void {
    this.closing = true;
    this.dispatch();
  }

  private runOnCaller(j: PoolJob): void {
    j.state = 'running';
    try {
      j.resolve(this.runHere(j.message.job));
    } catch (err) {
      j.reject(err as Error);
    }
    this.dispatch();
  }

  private dispatch(): void {
    while (this.queue.length > 0 && this.ready.length > 0) {
      const worker = this.ready.pop()!;
      const j = this.queue.shift()!;
      j.state = 'running';
      this.running.set(worker, j);
      worker.postMessage(j.message);
    }
    if (this.closing && this.queue.length === 0 && this.running.size === 0) {
      for (const w of this.all) void w.terminate();
      this.all.length = 0;
      this.ready.length = 0;
    }
  }

  private spawn(): void {
    const worker = new Worker(this.entry);
    this.all.push(worker);
    worker.on('message', (m: SimWorkerMessage) => {
      if (!('ready' in m)) {
        const j = this.running.get(worker);
        this.running.delete(worker);
        if (j) {
          if (m.ok) j.resolve(m.result);
          else j.reject(asError(m.error));
        }
      }
      if (this.all.includes(worker)) this.ready.push(worker);
      this.dispatch();
    });
    worker.on('error', (err) => this.lost(worker, err));
    worker.on('exit', (code) => {
      if (this.running.has(worker)) this.lost(worker, new Error(`simulation worker thread exited with code ${code}`));
    });
  }

  /** A thread died (out of memory, a crash): its job fails, the others go on without it. */
  private lost(worker: Worker, err: Error): void {
    const j = this.running.get(worker);
    this.running.delete(worker);
    for (const list of [this.all, this.ready]) {
      const i = list.indexOf(worker);
      if (i >= 0) list.splice(i, 1);
    }
    j?.reject(err);
    this.dispatch();
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
