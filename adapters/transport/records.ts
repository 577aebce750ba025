// Call recording: each attempt of each call becomes one CallRecord, so API calls and bytes per
// deployment come from records, never from hand counts.
import type { PlaneName } from '../model.js';

export interface CallRecord {
  op: string;
  plane: PlaneName;
  method: string;
  /** path template, e.g. `/v2/images/{image_id}` */
  path: string;
  url: string;
  /** HTTP status, or 0 when no response arrived (connection refused/reset, timeout) */
  status: number;
  bytesOut: number;
  bytesIn: number;
  ms: number;
  /** 1 for the first attempt; an immediate retry after a reset reused socket counts too */
  attempt: number;
  /** set when the call failed after its status line: e.g. `short read: 1048576 of 4194304 bytes` (a 2xx status with this is a failure) */
  error?: string;
  /** set when the reader stopped a streamed 2xx body on purpose, having all it wanted (not a failure), e.g. `stopped by the reader after 8388608 bytes` */
  stopped?: string;
}

export class CallRecorder {
  private readonly list: CallRecord[] = [];
  onRecord?: (record: CallRecord) => void;

  constructor(onRecord?: (record: CallRecord) => void) {
    this.onRecord = onRecord;
  }

  record(r: CallRecord): void {
    this.list.push(r);
    this.onRecord?.(r);
  }

  records(): readonly CallRecord[] {
    return this.list;
  }

  clear(): void {
    this.list.length = 0;
  }
}
