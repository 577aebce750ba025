// Control-plane services as queueing stations: `workers` parallel servers, FIFO queue of at most
// the admission limit (a listen backlog: more are refused at once, as a full backlog or a 503 is).
// An outage makes the station refuse requests (the caller sees `unavailable`).
import type { ServiceTime, Station } from '../adapters/index.js';
import type { Simulator } from './engine.js';
import { lognormalSigma, type Rng } from './rng.js';

export class StationSim {
  private busy = 0;
  private queue: (() => void)[] = [];
  private head = 0;
  /** nested outage windows currently active */
  private outages = 0;
  private readonly upListeners: (() => void)[] = [];
  /** requests waiting beyond this are refused; 0: no limit */
  readonly queueLimit: number;
  served = 0;
  refused = 0;

  constructor(
    private readonly sim: Simulator,
    readonly spec: Station,
    queueLimit: 'plane' | number = 'plane',
  ) {
    this.queueLimit = queueLimit === 'plane' ? (spec.queueLimit ?? 0) : queueLimit;
  }

  get up(): boolean {
    return this.outages === 0;
  }

  setOutage(active: boolean): void {
    this.outages += active ? 1 : -1;
    if (!active && this.outages === 0) for (const l of this.upListeners) l();
  }

  onUp(listener: () => void): void {
    this.upListeners.push(listener);
  }

  /** Queue a request of `serviceUs`; `done` runs when a worker finished serving it. False: refused (backlog full), `done` never runs. */
  request(serviceUs: number, done: () => void): boolean {
    if (this.busy < this.spec.workers) {
      this.serve(serviceUs, done);
      return true;
    }
    if (this.full()) return false;
    this.queue.push(() => this.serve(serviceUs, done));
    return true;
  }

  private serve(serviceUs: number, done: () => void): void {
    this.busy++;
    this.sim.after(serviceUs, () => {
      this.busy--;
      this.served++;
      this.next();
      done();
    });
  }

  /**
   * Like `request`, but the worker stays taken after its service time until `release` is called
   * (a driver action that lasts as long as the copy it runs). False: refused.
   */
  hold(serviceUs: number, start: (release: () => void) => void): boolean {
    const job = (): void => {
      this.busy++;
      this.sim.after(serviceUs, () => {
        let released = false;
        start(() => {
          if (released) return;
          released = true;
          this.busy--;
          this.served++;
          this.next();
        });
      });
    };
    if (this.busy < this.spec.workers) job();
    else if (this.full()) return false;
    else this.queue.push(job);
    return true;
  }

  /** Every worker busy and the backlog full: the request is refused (counted). */
  private full(): boolean {
    if (this.queueLimit > 0 && this.queued >= this.queueLimit) {
      this.refused++;
      return true;
    }
    return false;
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

const sigmas = new WeakMap<ServiceTime, number>();

/** A service time drawn from its figure (a lognormal's sigma is worked out once per figure: a storm draws millions). */
export function drawServiceUs(t: ServiceTime, rng: Rng): number {
  if (t.kind === 'fixed') return t.us;
  let sigma = sigmas.get(t);
  if (sigma === undefined) {
    sigma = lognormalSigma(t.medianUs, t.p95Us, 0.95);
    sigmas.set(t, sigma);
  }
  return rng.lognormalSigmaUs(t.medianUs, sigma);
}
