// A small deterministic world for property tests of the agent machine: a fake control plane
// (one assignment, which may change once, and its manifests), a content-addressed chunk store,
// a hypervisor, a disk holding the last persisted state, and a queue of pending deliveries.
// A schedule (chosen by fast-check) injects faults: control-plane errors, corrupt or unavailable
// chunks, staging I/O errors, agent crashes, reordered and duplicated deliveries; the update may
// come in the middle of the first fetch and leave the old image unreadable for good. The world
// also checks, at every action, the invariants a runtime relies on; a violation throws. The
// plane records the RUNNING reports it received since the agent's last start.

import { initialState, step, type Action, type AgentConfig, type AgentState, type Assignment, type Event, type FailureReason, type ManifestInfo, type PersistedState, type Phase } from '../../../../agent/index.js';
import { deepFreeze, manifest } from './helpers.js';

export type ControlFault = 'ok' | 'unavailable' | 'unauthorized';
export type ChunkFault = 'ok' | 'corrupt' | 'unavailable';
/** Faults that hold for the final target image forever: the deployment cannot succeed. */
export type Permanent = 'none' | 'forbidden' | 'notFound' | 'invalid' | 'keyRevoked' | 'tamperedChunk' | 'stagedTampered' | 'bootFails';

export const EXPECTED_REASON: Record<Exclude<Permanent, 'none'>, FailureReason> = {
  forbidden: 'forbidden',
  notFound: 'notFound',
  invalid: 'invalid',
  keyRevoked: 'unauthorized',
  tamperedChunk: 'tampered',
  stagedTampered: 'tampered',
  bootFails: 'bootFailed',
};

export interface Schedule {
  config: AgentConfig;
  seed: number;
  /** the assignment changes from A to B before delivery number `updateAt` */
  update: boolean;
  updateAt: number;
  /** the update comes instead at the first chunk fetch of A (the middle of A's deployment) */
  updateMidFetch: boolean;
  /** once the assignment is B, A's manifest, key and chunks are unavailable for good */
  abandon: boolean;
  /** which of B's chunks 0..2 reuse A's digest (chunk 3 is always new) */
  shared: boolean[];
  permanent: Permanent;
  /** by control call number; later calls succeed, and all calls after the fault horizon */
  controlFaults: ControlFault[];
  /** the plane is down for this many control calls after each crash (absent: 0) */
  outageAfterCrash?: number;
  /** by chunk fetch attempt number; later attempts succeed */
  chunkFaults: ChunkFault[];
  /** by stage call number: an I/O error */
  stageIo: boolean[];
  crashes: { at: number; killsVm: boolean }[];
  /** by delivery number: which pending stream delivers next (default: the oldest) */
  picks: number[];
  /** delivery numbers whose event is delivered once more, later */
  duplicates: number[];
  /** by fetch request number: into how many `chunks` events its results are split */
  splits: number[];
  /** the hypervisor answers only after SLOW_VM_DELIVERIES other deliveries, or when nothing else is pending */
  slowVm: boolean;
}

export const IMAGE_A: Assignment = { imageId: 'app', version: '1' };
export const IMAGE_B: Assignment = { imageId: 'app', version: '2' };
const TAMPERED_INDEX = 3;

function same(a: Assignment | null, b: Assignment | null): boolean {
  return a !== null && b !== null && a.imageId === b.imageId && a.version === b.version;
}

export interface Outcome {
  machine: AgentState;
  vm: Assignment | null;
  everRan: Assignment[];
  dones: Extract<Action, { type: 'done' }>[];
  target: Assignment;
  log: string[];
  deliveries: number;
  /** the images of the RUNNING reports the plane received since the agent last started */
  runningReports: Assignment[];
}

const MAX_DELIVERIES = 4000;
/** transient faults (by call number in the schedule) occur only before this delivery */
const FAULT_HORIZON = 160;
const SLOW_VM_DELIVERIES = 12;

export function runWorld(schedule: Schedule): Outcome {
  const w = new World(schedule);
  return w.run();
}

class World {
  machine: AgentState;
  disk: PersistedState | null = null;
  vm: Assignment | null = null;
  everRan: Assignment[] = [];
  store = new Set<string>();
  /** pending deliveries: each stream delivers its events in order; `born` is the delivery number it came at */
  streams: { events: Event[]; born: number }[] = [];
  delivery = 0;
  dones: Extract<Action, { type: 'done' }>[] = [];
  openPhases = new Set<Phase>();
  current: Assignment = IMAGE_A;
  manifests: Map<string, ManifestInfo>;
  controlCalls = 0;
  chunkAttempts = 0;
  stageCalls = 0;
  fetchRequests = 0;
  log: string[] = [];
  transientFaults = true;
  /** id of the hypervisor request in flight: the machine must send one at a time */
  vmBusy: number | null = null;
  runningReports: Assignment[] = [];
  /** control calls still to fail after the last crash */
  outage = 0;

  constructor(readonly sc: Schedule) {
    this.machine = initialState(sc.config, null, sc.seed);
    const a = manifest(IMAGE_A, ['a0', 'a1', 'a2', 'a3']);
    const b = manifest(
      IMAGE_B,
      [0, 1, 2, 3].map((i) => (i !== TAMPERED_INDEX && sc.shared[i] ? `a${i}` : `b${i}`)),
    );
    this.manifests = new Map([
      ['1', a],
      ['2', b],
    ]);
  }

  get target(): Assignment {
    return this.sc.update ? IMAGE_B : IMAGE_A;
  }

  isTarget(image: { imageId: string; version: string }): boolean {
    return same({ imageId: image.imageId, version: image.version }, this.target);
  }

  run(): Outcome {
    const sc = this.sc;
    const lastScheduled = Math.max(sc.update ? sc.updateAt : 0, ...sc.crashes.map((c) => c.at), ...sc.duplicates);
    this.apply({ type: 'start' });
    let quietDones = -1;
    for (let n = 0; n < MAX_DELIVERIES; n++) {
      this.transientFaults = n < FAULT_HORIZON;
      for (const crash of sc.crashes) if (crash.at === n) this.crash(crash.killsVm, n);
      if (sc.update && !sc.updateMidFetch && n >= sc.updateAt) this.current = IMAGE_B;

      const quiet = n > lastScheduled && !this.transientFaults && this.streams.length === 1;
      const idle = this.machine.timer === 'poll';
      if (quiet && quietDones < 0) quietDones = this.dones.length;
      // a node RUNNING its target is settled once it considers its RUNNING report delivered
      const settled = same(this.machine.running, this.target) && !this.machine.reportRunning;
      if (quiet && idle && (settled || this.dones.length > quietDones)) {
        const { machine, vm, everRan, dones, target, log, runningReports } = this;
        return { machine, vm, everRan, dones, target, log, deliveries: n, runningReports };
      }

      if (this.streams.length === 0) throw new Error('the machine awaits nothing');
      this.delivery = n;
      const held = (s: { events: Event[]; born: number }) => sc.slowVm && n - s.born < SLOW_VM_DELIVERIES && (s.events[0].type === 'vmStarted' || s.events[0].type === 'vmStopped');
      const ready = this.streams.filter((s) => !held(s));
      const candidates = ready.length > 0 ? ready : this.streams;
      const stream = candidates[(sc.picks[n] ?? 0) % candidates.length];
      const event = stream.events.shift()!;
      if (stream.events.length === 0) this.streams.splice(this.streams.indexOf(stream), 1);
      if (sc.duplicates.includes(n)) this.respond(event);
      this.apply(event);
    }
    throw new Error(`no convergence after ${MAX_DELIVERIES} deliveries`);
  }

  crash(killsVm: boolean, n: number): void {
    this.log.push(`crash${killsVm ? '+vm' : ''}`);
    // in-flight results stay queued: they are stale now and must be ignored
    this.machine = initialState(this.sc.config, this.disk, this.sc.seed + n);
    this.openPhases.clear();
    this.vmBusy = null;
    this.runningReports = [];
    this.outage = this.sc.outageAfterCrash ?? 0;
    if (killsVm) this.vm = null;
    this.apply({ type: 'start' });
  }

  apply(event: Event): void {
    if ((event.type === 'vmStarted' || event.type === 'vmStopped') && event.id === this.vmBusy) this.vmBusy = null;
    const before = deepFreeze(this.machine);
    deepFreeze(event);
    const result = step(before, event);
    const again = step(before, event);
    if (JSON.stringify(again) !== JSON.stringify(result)) throw new Error('step is not deterministic');
    this.machine = result.state;
    for (const action of result.actions) this.execute(action);
  }

  claimVm(id: number): void {
    if (this.vmBusy !== null) throw new Error('two hypervisor requests in flight');
    this.vmBusy = id;
  }

  /** A is unreadable now (abandon): the plane assigned B instead */
  gone(image: { version: string }): boolean {
    return this.sc.abandon && same(this.current, IMAGE_B) && image.version === IMAGE_A.version;
  }

  transient<T>(scheduled: T | undefined, benign: T): T {
    return this.transientFaults && scheduled !== undefined ? scheduled : benign;
  }

  respond(...events: Event[]): void {
    this.streams.push({ events, born: this.delivery });
  }

  execute(action: Action): void {
    this.log.push(action.type === 'control' ? `control:${action.op}` : action.type);
    switch (action.type) {
      case 'persist':
        this.disk = deepFreeze(action.state);
        return;
      case 'mark':
        if (action.edge === 'start') {
          if (this.openPhases.has(action.phase)) throw new Error(`phase ${action.phase} started twice`);
          this.openPhases.add(action.phase);
        } else {
          if (!this.openPhases.delete(action.phase)) throw new Error(`phase ${action.phase} ended without a start`);
        }
        return;
      case 'done':
        if (this.openPhases.size > 0) throw new Error(`done with open phases ${[...this.openPhases].join(',')}`);
        this.dones.push(action);
        return;
      case 'setTimer':
        if (!(action.afterUs >= 0)) throw new Error('negative timer');
        this.respond({ type: 'timer', id: action.id });
        return;
      case 'control':
        this.control(action);
        return;
      case 'fetchChunks':
        this.fetch(action);
        return;
      case 'stage':
        this.stage(action);
        return;
      case 'stopVm':
        this.claimVm(action.id);
        if (this.disk?.staged == null || same(this.disk.staged, this.vm)) throw new Error('old VM stopped before the new image was staged');
        this.vm = null;
        this.respond({ type: 'vmStopped', id: action.id });
        return;
      case 'startVm': {
        this.claimVm(action.id);
        if (!same(action.image, this.disk?.staged ?? null)) throw new Error('started an image that is not staged');
        const fails = this.sc.permanent === 'bootFails' && this.isTarget(action.image);
        this.vm = fails ? null : action.image;
        if (!fails) this.everRan.push(action.image);
        this.respond({ type: 'vmStarted', id: action.id, ok: !fails });
        return;
      }
    }
  }

  control(action: Extract<Action, { type: 'control' }>): void {
    let fault = this.transient(this.sc.controlFaults[this.controlCalls++], 'ok');
    if (this.outage > 0) {
      this.outage -= 1;
      fault = 'unavailable';
    }
    const op = action.op;
    const error = (kind: 'unavailable' | 'unauthorized' | 'forbidden' | 'notFound'): void => this.respond({ type: 'controlResult', id: action.id, result: { op, ok: false, error: { kind, message: kind } } });
    if (fault !== 'ok') return error(fault);
    const permanent = this.sc.permanent;
    switch (op) {
      case 'report':
        if (action.status === 'RUNNING') this.runningReports.push(action.assignment!);
        return this.respond({ type: 'controlResult', id: action.id, result: { op, ok: true } });
      case 'login':
        return this.respond({ type: 'controlResult', id: action.id, result: { op, ok: true } });
      case 'getAssignment':
        return this.respond({ type: 'controlResult', id: action.id, result: { op, ok: true, assignment: this.current } });
      case 'getManifest': {
        const wanted = action.assignment!;
        if (this.gone(wanted)) return error('unavailable');
        if (this.isTarget(wanted) && (permanent === 'forbidden' || permanent === 'notFound')) return error(permanent);
        let m = this.manifests.get(wanted.version)!;
        if (this.isTarget(wanted) && permanent === 'invalid') m = { ...m, version: 'forged' };
        return this.respond({ type: 'controlResult', id: action.id, result: { op, ok: true, manifest: m } });
      }
      case 'getKey':
        if (this.gone(action.manifest!)) return error('unavailable');
        if (this.isTarget(action.manifest!) && permanent === 'keyRevoked') return error('unauthorized');
        return this.respond({ type: 'controlResult', id: action.id, result: { op, ok: true } });
    }
  }

  fetch(action: Extract<Action, { type: 'fetchChunks' }>): void {
    if (this.sc.update && this.sc.updateMidFetch && action.version === IMAGE_A.version) this.current = IMAGE_B;
    const disk = this.disk!;
    if (disk.manifest === null || disk.manifest.version !== action.version) throw new Error('fetch for a manifest that is not persisted');
    const verified = new Set(disk.verifiedChunks);
    const held = new Set(disk.heldDigests ?? []);
    for (const chunk of action.chunks) {
      if (verified.has(chunk.index)) throw new Error(`chunk ${chunk.index} fetched again after it was persisted verified`);
      if (held.has(chunk.digest)) throw new Error(`chunk ${chunk.digest} fetched though held`);
    }
    const results = action.chunks.map((chunk) => {
      let fault = this.transient(this.sc.chunkFaults[this.chunkAttempts++], 'ok');
      if (this.sc.permanent === 'tamperedChunk' && this.isTarget(action) && chunk.index === TAMPERED_INDEX) fault = 'corrupt';
      if (this.gone(action)) fault = 'unavailable';
      if (fault === 'ok') this.store.add(chunk.digest);
      return { index: chunk.index, fault };
    });
    const parts = Math.min(results.length, this.sc.splits[this.fetchRequests++] ?? 1);
    const size = Math.ceil(results.length / parts);
    const events: Event[] = [];
    for (let i = 0; i < results.length; i += size) {
      const part = results.slice(i, i + size);
      const of = (fault: ChunkFault) => part.filter((r) => r.fault === fault).map((r) => r.index);
      events.push({ type: 'chunks', id: action.id, stored: of('ok'), corrupt: of('corrupt'), unavailable: of('unavailable'), final: i + size >= results.length });
    }
    this.respond(...events);
  }

  stage(action: Extract<Action, { type: 'stage' }>): void {
    const disk = this.disk!;
    const m = action.manifest;
    if (disk.manifest?.version !== m.version || disk.verifiedChunks.length !== m.chunks.length) throw new Error('staged before all chunks were verified');
    if (!m.chunks.every((c) => this.store.has(c.digest))) throw new Error('staged with chunks missing from the store');
    const io = this.transient(this.sc.stageIo[this.stageCalls++], false);
    if (this.sc.permanent === 'stagedTampered' && this.isTarget(m)) this.respond({ type: 'staged', id: action.id, ok: false, reason: 'tampered' });
    else if (io) this.respond({ type: 'staged', id: action.id, ok: false, reason: 'io' });
    else this.respond({ type: 'staged', id: action.id, ok: true });
  }
}
