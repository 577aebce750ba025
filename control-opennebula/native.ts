// Native mode for real: the fleet deployed the way an OpenNebula operator does it, through oned's
// API. Per node: one.vm.allocate (on hold when pinned), one.vm.deploy(vm, host, enforce) when
// pinned (else mm_sched places it), then one.vm.info polls until ACTIVE/RUNNING, recording every
// VM state change (PENDING, HOLD, PROLOG, BOOT, RUNNING, ...) with its time. With the in-tree dummy
// drivers PROLOG and BOOT move no bytes and boot nothing: the results say so.
// Resuming: a call whose connection failed may have been applied (oned committed, the answer was
// lost), so before allocating again the VM is looked up by its unique name, and before deploying
// again its state is read: a restart of oned mid-rollout never duplicates a VM.
// A restart can also lose the action oned had queued for a VM (a deploy accepted just before a
// SIGTERM leaves it in ACTIVE/LCM_INIT for good; the TM or VMM driver's answer for PROLOG or BOOT
// dies with the old drivers). After oned was unreachable, a VM that stays in such a state for
// `stuckMs` gets what an operator would give it: `onevm recover --recreate` (delete-recreate, same
// VM id: LCM_INIT -> CLEANUP_RESUBMIT, then once more -> PENDING), and when pinned it is held and
// deployed on its host again.
import { ConnectionError, type CallRecord, CallRecorder, NO_RETRY } from '../adapters/transport/index.js';
import { OneClient } from './client/api.js';
import { OneError } from './client/errors.js';
import { LCM_STATE, VM_STATE, vmStateName, type OneVm } from './client/schemas.js';

export interface NativeTarget {
  /** the scenario's node id */
  node: string;
  /** the host this node's VM is meant for */
  hostId: number;
  /** a unique VM name (the resume key) */
  vmName: string;
}

export interface VmStateChange {
  state: string;
  /** ms since the rollout's t0 */
  atMs: number;
}

export interface NativeDeployment {
  node: string;
  vmId: number | null;
  intendedHostId: number;
  placedHostId: number | null;
  intended: boolean;
  outcome: 'running' | 'failed' | 'unfinished';
  reason?: string;
  startMs: number;
  endMs: number | null;
  states: VmStateChange[];
  /** seconds: allocate to PROLOG (placement), PROLOG (image copy), BOOT to RUNNING */
  phases: { assignment?: number; transfer?: number; boot?: number };
  calls: CallRecord[];
  /** calls that found oned unreachable (the deployment waited and resumed) */
  unreachable: number;
  /** one.vm.recover calls made for a VM a restart of oned left stuck */
  recoveries: number;
}

export interface NativeRolloutOptions {
  endpoint: string;
  username: string;
  password: string;
  targets: readonly NativeTarget[];
  placement: 'pinned' | 'scheduler';
  /** the VM template body without NAME (CPU, MEMORY, DISK = [ IMAGE_ID = ... ], ...) */
  vmTemplate: string;
  /** the system datastore pinned deploys go to (default -1: oned picks the cluster's) */
  datastoreId?: number;
  /** performance.now() of the rollout start */
  t0: number;
  pollMs?: number;
  timeoutMs?: number;
  /** after oned was unreachable: how long a VM may sit in LCM_INIT, PROLOG, BOOT or CLEANUP_RESUBMIT before it is recovered (default 30 s) */
  stuckMs?: number;
  onStateChange?: (node: string, change: VmStateChange) => void;
}

/** LCM states a lost driver action or a lost deploy trigger can leave a VM in for good */
const STUCK_AFTER_RESTART: ReadonlySet<number> = new Set([LCM_STATE.LCM_INIT, LCM_STATE.PROLOG, LCM_STATE.BOOT, LCM_STATE.CLEANUP_RESUBMIT]);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const unreachable = (err: unknown) => err instanceof ConnectionError;

function isFailure(vm: OneVm): string | null {
  if (vm.STATE === VM_STATE.ACTIVE && (vm.LCM_STATE === LCM_STATE.PROLOG_FAILURE || vm.LCM_STATE === LCM_STATE.BOOT_FAILURE)) return vmStateName(vm.STATE, vm.LCM_STATE);
  if (vm.STATE === VM_STATE.DONE || vm.STATE === VM_STATE.POWEROFF || vm.STATE === VM_STATE.CLONING_FAILURE) return vmStateName(vm.STATE, vm.LCM_STATE);
  return null;
}

/** The VM named `name` that is not DONE, if oned has one. */
async function findByName(client: OneClient, name: string): Promise<OneVm | null> {
  const pool = await client.vmPool(-1);
  return pool.find((v) => v.NAME === name) ?? null;
}

/** One node: allocate (resumable), deploy when pinned (resumable), poll to RUNNING. */
export async function deployOne(o: NativeRolloutOptions, target: NativeTarget): Promise<NativeDeployment> {
  const recorder = new CallRecorder();
  const client = new OneClient({ endpoint: o.endpoint, username: o.username, password: o.password, recorder, timeoutMs: 15_000, retry: NO_RETRY });
  const pollMs = o.pollMs ?? 50;
  const deadline = o.t0 + (o.timeoutMs ?? 300_000);
  const rel = () => performance.now() - o.t0;
  const d: NativeDeployment = {
    node: target.node,
    vmId: null,
    intendedHostId: target.hostId,
    placedHostId: null,
    intended: false,
    outcome: 'unfinished',
    startMs: rel(),
    endMs: null,
    states: [],
    phases: {},
    calls: [],
    unreachable: 0,
    recoveries: 0,
  };
  const note = (state: string) => {
    if (d.states.at(-1)?.state === state) return;
    const change = { state, atMs: rel() };
    d.states.push(change);
    o.onStateChange?.(target.node, change);
  };
  // an operation that may meet an unreachable oned: wait and call again until the deadline
  const persist = async <T>(what: () => Promise<T>): Promise<T> => {
    for (;;) {
      try {
        return await what();
      } catch (err) {
        if (!unreachable(err) || performance.now() > deadline) throw err;
        d.unreachable++;
        await sleep(500);
      }
    }
  };
  try {
    const body = `NAME = "${target.vmName}"\n${o.vmTemplate}`;
    const hold = o.placement === 'pinned';
    d.vmId = await persist(async () => {
      try {
        return await client.vmAllocate(body, hold);
      } catch (err) {
        if (!unreachable(err)) throw err;
        d.unreachable++;
        // the allocation may have been committed before the connection failed
        const existing = await persist(() => findByName(client, target.vmName));
        if (existing) return existing.ID;
        await sleep(500);
        throw err;
      }
    });
    note(hold ? 'HOLD' : 'PENDING');
    const deployPinned = () =>
      persist(async () => {
        try {
          await client.vmDeploy(d.vmId!, target.hostId, true, o.datastoreId ?? -1);
        } catch (err) {
          if (!unreachable(err)) throw err;
          d.unreachable++;
          const vm = await persist(() => client.vmInfo(d.vmId!));
          if (vm.STATE !== VM_STATE.HOLD) return; // the deploy was applied
          throw err;
        }
      });
    if (hold) await deployPinned();
    const stuckMs = o.stuckMs ?? 30_000;
    let seenUnreachable = 0;
    let resumedAt = Number.NaN; // when oned answered again after being unreachable
    let stateSince = performance.now();
    let recovering = false;
    for (;;) {
      const vm = await persist(() => client.vmInfo(d.vmId!));
      if (d.unreachable > seenUnreachable) {
        seenUnreachable = d.unreachable;
        resumedAt = performance.now();
      }
      const name = vmStateName(vm.STATE, vm.LCM_STATE);
      if (d.states.at(-1)?.state !== name) stateSince = performance.now();
      note(name);
      const last = vm.HISTORY_RECORDS?.HISTORY.at(-1);
      if (last) d.placedHostId = last.HID;
      if (vm.STATE === VM_STATE.ACTIVE && vm.LCM_STATE === LCM_STATE.RUNNING) {
        d.outcome = 'running';
        break;
      }
      const failed = isFailure(vm);
      if (failed) {
        d.outcome = 'failed';
        d.reason = `VM ${d.vmId} ${failed}`;
        break;
      }
      if (performance.now() > deadline) {
        d.reason = `timeout in ${name}`;
        break;
      }
      if (recovering && hold && vm.STATE === VM_STATE.PENDING) {
        // resubmitted: back on its host before mm_sched places it anywhere
        recovering = false;
        try {
          await persist(() => client.vmAction('hold', d.vmId!));
          note('HOLD');
          await deployPinned();
        } catch (err) {
          if (!(err instanceof OneError && err.errorName === 'ACTION')) throw err; // mm_sched was first
        }
      } else if (vm.STATE === VM_STATE.ACTIVE && STUCK_AFTER_RESTART.has(vm.LCM_STATE) && performance.now() - Math.max(resumedAt, stateSince) > stuckMs) {
        await persist(() => client.vmRecover(d.vmId!, 4));
        d.recoveries++;
        recovering = true;
        stateSince = performance.now();
      }
      await sleep(pollMs);
    }
  } catch (err) {
    d.outcome = 'failed';
    d.reason = err instanceof OneError ? `${err.errorName}: ${err.oneMessage}` : (err as Error).message;
  } finally {
    d.endMs = d.outcome === 'unfinished' ? null : rel();
    d.calls = [...recorder.records()];
    await client.close();
  }
  d.intended = d.placedHostId === target.hostId && d.outcome === 'running';
  d.phases = phasesOf(d.states, d.startMs);
  return d;
}

/** Seconds per phase from the observed state changes. */
export function phasesOf(states: readonly VmStateChange[], startMs: number): NativeDeployment['phases'] {
  const at = (pred: (s: string) => boolean) => states.find((s) => pred(s.state))?.atMs;
  const prolog = at((s) => s.endsWith('/PROLOG'));
  const boot = at((s) => s.endsWith('/BOOT'));
  const running = at((s) => s === 'ACTIVE/RUNNING');
  const firstActive = at((s) => s.startsWith('ACTIVE/'));
  const out: NativeDeployment['phases'] = {};
  const placedAt = prolog ?? boot ?? firstActive ?? running;
  if (placedAt !== undefined) out.assignment = (placedAt - startMs) / 1000;
  if (prolog !== undefined) out.transfer = ((boot ?? running ?? prolog) - prolog) / 1000;
  if (running !== undefined) out.boot = (running - (boot ?? prolog ?? running)) / 1000;
  return out;
}

/** Every target at once (an operator's script does not wait for one VM before the next). */
export async function rollOut(o: NativeRolloutOptions): Promise<NativeDeployment[]> {
  return Promise.all(o.targets.map((t) => deployOne(o, t)));
}

/** The VM template body of the rollout's VMs. */
export function vmTemplateBody(imageId: number, extra: Record<string, string> = {}): string {
  const lines = ['CPU = "0.01"', 'VCPU = "1"', 'MEMORY = "64"', `DISK = [ IMAGE_ID = "${imageId}" ]`];
  for (const [k, v] of Object.entries(extra)) lines.push(`${k} = "${v.replace(/["\\]/g, '')}"`);
  return lines.join('\n');
}
