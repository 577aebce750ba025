// <stateDir>/events.ndjson: the raw material of result samples. Phase marks and deployment ends
// are timestamped here (the machine has no clock), with every call the plane client recorded and
// every status change. One JSON object per line, appended synchronously so a crash loses nothing
// already written.
import { appendFileSync } from 'node:fs';
import type { CallRecord } from '../../adapters/transport/index.js';
import type { Action, AgentStatus, Assignment } from '../machine/index.js';

export type EventLine =
  | { type: 'start'; pid: number }
  | Extract<Action, { type: 'mark' }>
  | Extract<Action, { type: 'done' }>
  | { type: 'status'; status: AgentStatus; running: Assignment | null }
  | ({ type: 'call' } & CallRecord)
  /** a fetch round ended: its data path's figures (bytes of verified chunks landed, wall and CPU time, peak RSS so far) */
  | {
      type: 'fetch';
      image: string;
      chunks: number;
      bytes: number;
      ms: number;
      cpuMs: number;
      peakRssMiB: number;
      direct: boolean;
      /** `whole`: the store refused ranges and the blob was streamed whole (absent: ranges) */
      mode?: 'whole';
      /** whole mode: bytes read off the stream, of which bytes of chunks held already (read past, not verified or stored) */
      streamedBytes?: number;
      skippedBytes?: number;
      /** whole mode: the stream was stopped once the last missing chunk arrived */
      stoppedEarly?: boolean;
    }
  /** the machine gave up (e.g. its credentials refused `authFailures` times in a row): the process exits */
  | { type: 'halt'; reason: string; authFailures: number; message: string }
  | { type: 'stop' };

/** Wall-clock milliseconds with sub-millisecond resolution. */
export const nowMs = (): number => performance.timeOrigin + performance.now();

export class EventsLog {
  constructor(
    readonly path: string,
    private readonly boot: () => number,
  ) {}

  append(line: EventLine): void {
    appendFileSync(this.path, `${JSON.stringify({ t: Number(nowMs().toFixed(3)), boot: this.boot(), ...line })}\n`);
  }
}
