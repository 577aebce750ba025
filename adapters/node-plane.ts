// The edge node's side of a control plane: what the agent runtime needs from any plane, in the
// plane's own terms (a Glance image id, a Barbican secret href, a test-plane path are all opaque
// refs here). Each real plane client (control-*/client) implements it; so does the test plane.
// Errors thrown by a NodePlane are mapped to the machine's ControlError kinds by `toControlError`.
import type { Readable } from 'node:stream';
import type { Assignment } from '../agent/machine/index.js';
import type { CallRecorder } from './transport/index.js';

/** A manifest as the plane hands it out: signed bytes (verified by the agent) plus where the data lives. */
export interface PlaneManifest {
  /** the signed manifest envelope, opaque to the plane */
  bytes: Buffer;
  /** where the image's data key lives in the plane's KMS (passed back to `getKey`) */
  keyRef: string;
  /**
   * the image "blob": the sealed chunks concatenated in manifest order (chunk i starts at the
   * sum of the sizes before it), read with `downloadRange`
   */
  blobRef: string;
}

export interface NodeReport {
  /** the agent's status, e.g. RUNNING or FAILED */
  status: string;
  image: Assignment | null;
  /** a FailureReason when status is FAILED */
  failure?: string;
}

export interface NodePlane {
  /** plane name as it appears in call records, e.g. `openstack` or `test-plane` */
  readonly plane: string;
  /** every call this client makes is recorded here */
  readonly recorder: CallRecorder;
  login(): Promise<void>;
  /** what this node must run; null when nothing is assigned */
  getAssignment(): Promise<Assignment | null>;
  getManifest(assignment: Assignment): Promise<PlaneManifest>;
  /** the 32-byte data key */
  getKey(keyRef: string): Promise<Buffer>;
  /** `length` bytes of the blob from `offset` (one chunk) */
  downloadRange(blobRef: string, offset: number, length: number): Promise<Buffer>;
  /**
   * Optional, for stores that refuse ranges (Glance on Ceph RBD): the whole blob as one stream,
   * with `stop()` to drop the rest once the reader has what it wants. A plane that has it throws a
   * `RangesRefusedError`-like error (`rangesRefused: true`, see `isRangesRefused`) from
   * `downloadRange` for such a blob, and says so in `rangesRefused` from then on.
   */
  downloadBlob?(blobRef: string): Promise<BlobStream>;
  /** true once the plane knows `blobRef`'s store refuses ranges (the fetcher streams it whole) */
  rangesRefused?(blobRef: string): boolean;
  report(report: NodeReport): Promise<void>;
}

/** A whole blob as a stream (see NodePlane.downloadBlob). */
export interface BlobStream {
  stream: Readable;
  /** stop reading: the rest of the body is not read (not a failure of the call) */
  stop(): void;
  /**
   * Optional, instead of `stream` (use one or the other): the body is read straight into the
   * reader's memory, the socket filling the regions `sink.target()` gives (no copy on the data path).
   */
  readInto?(sink: BlobSink): BlobReads;
}

/** Where a blob read by `BlobStream.readInto` lands. */
export interface BlobSink {
  /** the region the next read fills (not empty); asked again after every `filled` */
  target(): Buffer;
  /** `n` bytes landed at the start of the last target; false: no more reads until `BlobReads.resume()` */
  filled(n: number): boolean;
  /** the body is complete (null) or cut short; called once, never after `stop()` */
  end(err: Error | null): void;
}

export interface BlobReads {
  /** reads go on after `filled` returned false */
  resume(): void;
  /** drops the connection as failed (`sink.end(err)` follows); `stop()` is the deliberate end */
  abort(err: Error): void;
}

/** The store behind `blobRef` refuses ranged reads: read the blob whole (`downloadBlob`). */
export function isRangesRefused(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { rangesRefused?: unknown }).rangesRefused === true;
}

/** Byte offset of each chunk in a plane blob (chunks concatenated in manifest order). */
export function blobOffsets(chunks: readonly { size: number }[]): number[] {
  const offsets = new Array<number>(chunks.length);
  let offset = 0;
  chunks.forEach((c, i) => {
    offsets[i] = offset;
    offset += c.size;
  });
  return offsets;
}
