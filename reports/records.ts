// Per-node outcomes of one run (the deployment records every environment returns), kept in
// typed arrays so a million nodes cost little memory. Times are integer µs since the rollout's t0.
import { PHASES, type Phase } from '../agent/machine/index.js';

export const PHASE_INDEX: Record<Phase, number> = Object.fromEntries(PHASES.map((p, i) => [p, i])) as Record<Phase, number>;
const P = PHASES.length;

export const OUTCOME = { PENDING: 0, RUNNING: 1, FAILED: 2 } as const;

export class RunRecords {
  /** when the node's deployment was requested (pinned / admitted), µs */
  readonly startUs: Float64Array;
  /** when it ended (RUNNING or failed), µs; -1 while pending */
  readonly endUs: Float64Array;
  readonly outcome: Uint8Array;
  readonly reasons = new Map<number, string>();
  readonly phaseStart: Float64Array;
  readonly phaseEnd: Float64Array;
  /** 1 when the VM landed on the node it was meant for */
  readonly placedOnIntended: Uint8Array;
  apiCalls = 0;
  controlBytes = 0;
  dataRequests = 0;
  finished = 0;

  constructor(readonly nodes: number) {
    this.startUs = new Float64Array(nodes).fill(-1);
    this.endUs = new Float64Array(nodes).fill(-1);
    this.outcome = new Uint8Array(nodes);
    this.phaseStart = new Float64Array(nodes * P).fill(-1);
    this.phaseEnd = new Float64Array(nodes * P).fill(-1);
    this.placedOnIntended = new Uint8Array(nodes).fill(1);
  }

  markPhase(node: number, phase: Phase, edge: 'start' | 'end', nowUs: number): void {
    const i = node * P + PHASE_INDEX[phase];
    if (edge === 'start') {
      if (this.phaseStart[i] < 0) this.phaseStart[i] = nowUs;
    } else this.phaseEnd[i] = nowUs;
  }

  /** a phase's duration measured elsewhere (summed over its intervals): kept as [0, us] */
  setPhaseUs(node: number, phase: number, us: number): void {
    this.phaseStart[node * P + phase] = 0;
    this.phaseEnd[node * P + phase] = us;
  }

  phaseUs(node: number, phase: number): number {
    const i = node * P + phase;
    const s = this.phaseStart[i];
    const e = this.phaseEnd[i];
    return s >= 0 && e >= s ? e - s : 0;
  }

  /** Record a deployment's end; a later success overrides an earlier failure. Returns true the first time. */
  finish(node: number, nowUs: number, ok: boolean, reason?: string): boolean {
    const first = this.outcome[node] === OUTCOME.PENDING;
    if (!first && !(ok && this.outcome[node] === OUTCOME.FAILED)) return false;
    this.outcome[node] = ok ? OUTCOME.RUNNING : OUTCOME.FAILED;
    this.endUs[node] = nowUs;
    if (ok) this.reasons.delete(node);
    else this.reasons.set(node, reason ?? 'unknown');
    if (first) this.finished++;
    return first;
  }

  countCall(bytes: number): void {
    this.apiCalls++;
    this.controlBytes += bytes;
  }
}
