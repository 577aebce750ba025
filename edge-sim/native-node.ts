// Centre-driven deployments (OpenNebula and CloudStack in native mode): no agent on the node;
// the front-end / management server runs the plane's steps (allocate, schedule, copy, boot,
// monitor) for each VM. The steps come from the plane's model; this executes them in virtual time.
import type { ApiOp, NativeStep, PlaneModel } from '../adapters/index.js';
import type { Phase } from '../agent/machine/index.js';
import type { NodeInfo } from './fleet.js';
import type { RunRecords } from '../reports/index.js';
import { NodeStreams } from './rng.js';
import { drawServiceUs } from './stations.js';
import { CONNECT_TIMEOUT_US, type Transfer, type World } from './world.js';

type TransferStep = Extract<NativeStep, { kind: 'transfer' }>;

/** How long the centre waits before retrying a failed copy or an unreachable service (driver/hook retry). */
export const NATIVE_RETRY_US = 30_000_000;
/** Attempts of one copy before the deployment is declared failed (PROLOG_FAILURE left to the operator). */
export const NATIVE_MAX_COPY_ATTEMPTS = 5;

export interface NativeRunContext {
  world: World;
  rec: RunRecords;
  repeat: number;
  payloadBytes: number;
  /** probability that the VM lands on its intended host */
  hitProbability: number;
  onFinished(node: number, ok: boolean): void;
}

/**
 * Phase of each step: calls and cycles before the image copy are the plane's placement work
 * (`assignment`), copies are `transfer`, and everything after the last copy (driver deploy,
 * boot, the centre seeing the VM RUNNING) is `boot`.
 */
export function nativePhases(steps: NativeStep[]): Phase[] {
  const firstCopy = steps.findIndex((s) => s.kind === 'transfer');
  let lastCopy = -1;
  steps.forEach((s, i) => {
    if (s.kind === 'transfer') lastCopy = i;
  });
  return steps.map((s, i) => {
    if (s.kind === 'transfer') return 'transfer';
    if (firstCopy < 0) return s.kind === 'boot' ? 'boot' : 'assignment';
    return i < firstCopy ? 'assignment' : i > lastCopy ? 'boot' : 'transfer';
  });
}

interface NativeNode {
  info: NodeInfo;
  rng: NodeStreams;
  gen: number;
  up: boolean;
  deploying: boolean;
  transfer: Transfer | null;
  copyAttempts: number;
}

export class NativeFleet {
  private readonly nodes: NativeNode[];
  private readonly cycleLoad = new Map<string, Map<number, number>>();
  private readonly siteStarted: Uint8Array;

  constructor(private readonly ctx: NativeRunContext) {
    const { world } = ctx;
    this.nodes = world.fleet.nodes.map((n) => ({
      info: n,
      rng: new NodeStreams(world.seed, ctx.repeat, n.id),
      gen: 0,
      up: true,
      deploying: false,
      transfer: null,
      copyAttempts: 0,
    }));
    this.siteStarted = new Uint8Array(world.fleet.sites.length);
    world.onSiteCut((site) => {
      for (const n of this.nodes) if (n.info.site === site) n.transfer?.cancel();
    });
  }

  get model(): PlaneModel {
    return this.ctx.world.model;
  }

  /** The operator asks the centre to deploy the node's VM. */
  deploy(node: number): void {
    const n = this.nodes[node];
    n.deploying = true;
    if (!this.ctx.rec.placedOnIntended[node] || n.rng.of('placement').bernoulli(1 - this.ctx.hitProbability)) {
      this.ctx.rec.placedOnIntended[node] = 0;
    }
    const firstOnSite = this.siteStarted[n.info.site] === 0;
    this.siteStarted[n.info.site] = 1;
    const steps = this.model.nativeSteps!({ siteCache: this.ctx.world.scenario.strategy === 'site-cache', firstOnSite });
    this.runStep(n, n.gen, steps, nativePhases(steps), 0);
  }

  crash(node: number): void {
    const n = this.nodes[node];
    if (!n.up) return;
    n.up = false;
    n.gen++;
    const t = n.transfer;
    n.transfer = null;
    t?.cancel();
  }

  /** The host is back; a deployment it lost is redone from the start once the centre notices. */
  boot(node: number): void {
    const n = this.nodes[node];
    n.up = true;
    if (n.deploying && this.ctx.rec.outcome[node] === 0) {
      const gen = n.gen;
      this.ctx.world.sim.after(NATIVE_RETRY_US, () => {
        if (n.gen === gen) this.deployAgain(n);
      });
    }
  }

  private deployAgain(n: NativeNode): void {
    const steps = this.model.nativeSteps!({ siteCache: this.ctx.world.scenario.strategy === 'site-cache', firstOnSite: false });
    this.runStep(n, n.gen, steps, nativePhases(steps), 0);
  }

  private runStep(n: NativeNode, gen: number, steps: NativeStep[], phases: Phase[], i: number): void {
    const { world, rec } = this.ctx;
    const sim = world.sim;
    if (n.gen !== gen) return;
    const node = n.info.index;
    if (i === steps.length) {
      n.deploying = false;
      if (rec.finish(node, sim.now, true)) this.ctx.onFinished(node, true);
      return;
    }
    const s = steps[i];
    const phase = phases[i];
    rec.markPhase(node, phase, 'start', sim.now);
    const next = (): void => {
      if (n.gen !== gen) return;
      rec.markPhase(node, phase, 'end', sim.now);
      this.runStep(n, gen, steps, phases, i + 1);
    };
    switch (s.kind) {
      case 'api':
        this.api(n, gen, s.op, next);
        return;
      case 'poll': {
        let left = s.polls;
        const once = (): void => {
          if (left-- <= 0) return next();
          this.api(n, gen, s.op, () => (left > 0 ? sim.after(s.intervalUs, once) : once()));
        };
        once();
        return;
      }
      case 'cycle':
        sim.at(this.cycleSlot(s.name, s.periodUs, s.perCycleLimit), next);
        return;
      case 'transfer':
        // an origin copy before a copy from the site's replica fills the replica (once per site), not the host
        if (s.from === 'origin' && steps.slice(i + 1).some((x) => x.kind === 'transfer' && x.from === 'siteReplica')) this.fillSite(n, gen, s, next);
        else this.copy(n, gen, s, next);
        return;
      case 'boot': {
        const b = n.info.boot;
        world.checks.vmStart(node, sim.now);
        sim.after(b.kind === 'fixed' ? b.us : n.rng.of('boot').lognormalUs(b.medianUs, b.p99Us, 0.99), () => {
          if (n.up) next();
        });
        return;
      }
    }
  }

  /** An API call from the operator's client to the centre (near the centre: origin RTT). */
  private api(n: NativeNode, gen: number, op: ApiOp, done: () => void): void {
    const { world, rec } = this.ctx;
    const station = world.station(op.station);
    const rtt = world.scenario.origin.rttUs;
    rec.countCall(op.bytesOut + op.bytesIn);
    const retry = (): void => {
      world.sim.after(NATIVE_RETRY_US, () => n.gen === gen && this.api(n, gen, op, done));
    };
    if (!station.up) return retry();
    const half = rtt >> 1;
    world.sim.after(half, () => {
      // a full backlog refuses the call: the operator's client retries it later
      if (!station.request(drawServiceUs(op.serviceTime ?? station.spec.serviceTime, n.rng.of('service')), () => world.sim.after(rtt - half, done))) retry();
    });
  }

  /** The next cycle of a periodic centre loop with room for one more dispatch. */
  private cycleSlot(name: string, periodUs: number, limit: number): number {
    let load = this.cycleLoad.get(name);
    if (!load) this.cycleLoad.set(name, (load = new Map()));
    let cycle = Math.floor(this.ctx.world.sim.now / periodUs) + 1;
    if (limit > 0) while ((load.get(cycle) ?? 0) >= limit) cycle++;
    load.set(cycle, (load.get(cycle) ?? 0) + 1);
    return cycle * periodUs;
  }

  /** The site's replica (or storage pool) gets its one copy from the origin; every node of the site waits for it. */
  private fillSite(n: NativeNode, gen: number, step: TransferStep, done: () => void): void {
    const { world, rec, payloadBytes } = this.ctx;
    const cache = world.siteCache(n.info.site);
    if (!cache.isFull) {
      rec.dataRequests++;
      rec.apiCalls++;
    }
    const attempt = (): void => {
      if (n.gen !== gen) return;
      // the fill is this deployment's driver action (holding a worker until the site has its copy when the driver blocks on it)
      const accepted = this.driverAction(n, step, (release) => {
        if (n.gen !== gen) return release();
        cache.ensure(payloadBytes, 1, (ok) => {
          release();
          if (n.gen !== gen) return;
          if (ok) return done();
          retryFill();
        });
      });
      if (!accepted) retryFill();
    };
    const retryFill = (): void => {
      if (++n.copyAttempts >= NATIVE_MAX_COPY_ATTEMPTS) {
        n.deploying = false;
        if (rec.finish(n.info.index, world.sim.now, false, 'retriesExhausted')) this.ctx.onFinished(n.info.index, false);
        return;
      }
      world.sim.after(NATIVE_RETRY_US, attempt);
    };
    attempt();
  }

  /**
   * Start a copy's set-up, then `start`. A driver that blocks on the copy (`worker: 'copy'`) holds
   * one of its station's workers from the set-up until `release`; a dispatched copy (`none`) only
   * needs the station up and runs its set-up on the host. False: refused, `start` never runs.
   */
  private driverAction(n: NativeNode, step: TransferStep, start: (release: () => void) => void): boolean {
    const { world } = this.ctx;
    const station = world.station(step.op.station);
    const setupUs = drawServiceUs(step.op.serviceTime ?? station.spec.serviceTime, n.rng.of('service'));
    if (step.worker === 'copy') return station.hold(setupUs, start);
    if (!station.up) return false;
    world.sim.after(setupUs, () => start(() => {}));
    return true;
  }

  /**
   * The centre copies the image onto the host (scp-like: one stream, no resume). The copy is a
   * driver action: it takes one of the op's station workers (e.g. TM_MAD -t 15) for its set-up
   * time and for as long as its bytes move.
   */
  private copy(n: NativeNode, gen: number, step: TransferStep, done: () => void): void {
    const { world, rec, payloadBytes } = this.ctx;
    const from = step.from;
    if (n.gen !== gen) return; // a retry scheduled before the host crashed
    const retry = (): void => {
      if (n.gen !== gen) return;
      if (++n.copyAttempts >= NATIVE_MAX_COPY_ATTEMPTS) {
        n.deploying = false;
        if (rec.finish(n.info.index, world.sim.now, false, 'retriesExhausted')) this.ctx.onFinished(n.info.index, false);
        return;
      }
      world.sim.after(NATIVE_RETRY_US, () => this.copy(n, gen, step, done));
    };
    rec.dataRequests++;
    rec.apiCalls++;
    const accepted = this.driverAction(n, step, (release) => {
      if (n.gen !== gen) return release();
      const end = (_delivered: number, complete: boolean): void => {
        n.transfer = null;
        release();
        if (n.gen !== gen) return;
        if (complete) done();
        else retry();
      };
      if (from === 'origin') {
        // a copy begun during a cut waits for its connection, up to the connect timeout
        world.connect(n.info.site, this.model.nativeConnectTimeoutUs ?? CONNECT_TIMEOUT_US, (ok) => {
          if (n.gen !== gen) return release();
          if (!ok) {
            release();
            return retry();
          }
          n.transfer = world.fromOrigin(n.info, payloadBytes, 1, end);
        });
      } else {
        world.siteCache(n.info.site).ensure(payloadBytes, 1, (ok) => {
          if (n.gen !== gen) return release();
          if (!ok) {
            release();
            return retry();
          }
          n.transfer = world.fromSiteCache(n.info, payloadBytes, 1, end);
        });
      }
    });
    if (!accepted) retry();
  }
}
