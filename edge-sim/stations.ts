// Control-plane services as queueing stations: `workers` parallel servers, FIFO queue.
// An outage makes the station refuse requests (the caller sees `unavailable`).
import type { ServiceTime, Station } from '../adapters/index.js';
import type { Simulator } from './engine.js';
import type { Rng } from './rng.js';

export class StationSim {
  private busy = 0;
  private queue: (() => void)[] = [];
  private head = 0;
  /** nested outage windows currently active */
  private outages = 0;
  served = 0;

  constructor(
    private readonly sim: Simulator,
    readonly spec: Station,
  ) {}

  get up(): boolean {
    return this.outages === 0;
  }

  setOutage(active: boolean): void {
    this.outages += active ? 1 : -1;
  }

  /** Queue a request of `serviceUs`; `done` runs when a worker finished serving it. */
  request(serviceUs: number, done: () => void): void {
    const job = (): void => {
      this.busy++;
      this.sim.after(serviceUs, () => {
        this.busy--;
        this.served++;
        this.next();
        done();
      });
    };
    if (this.busy < this.spec.workers) job();
    else this.queue.push(job);
  }

  get queued(): number {
    return this.queue.length - this.head;
  }

  private next(): void {
    if (this.head < this.queue.length && this.busy < this.spec.workers) {
      const job = this.queue[this.head++];
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      job();
    }
  }
}

export function drawServiceUs(t: ServiceTime, rng: Rng): number {
  return t.kind === 'fixed' ? t.us : rng.lognormalUs(t.medianUs, t.p95Us, 0.95);
}
