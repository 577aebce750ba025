// Whole-stream mode without a copy: the socket reads the blob straight into the crypto leases
// (BlobStream.readInto). Each missing chunk's lease is taken when the read reaches the chunk's
// offset, filled by as many socket reads as it takes, then landed (verified, decrypted, written);
// bytes of chunks held already land in a scratch buffer and are read past. Reads pause while no
// lease is free or `most` chunks are landing, and go on when that clears. Same outcomes as the
// stream loop of fetcher.ts: where the reads got to, and why they ended.
import type { BlobReads, BlobSink, BlobStream } from '../../adapters/index.js';
import type { Lease } from '../../pipeline/index.js';
import type { ChunkRef } from '../machine/index.js';

/** A missing blob in the whole stream: its chunks (one digest) at the first offset that digest has. */
export interface Slice {
  offset: number;
  size: number;
  refs: ChunkRef[];
}

export interface WholeCounts {
  streamedBytes: number;
  skippedBytes: number;
  stoppedEarly: boolean;
}

export interface WholeReadDeps {
  slices: readonly Slice[];
  /** the blob's size: reads that reach it go on to the body's end instead of stopping */
  blobBytes?: number;
  /** chunks landing at once */
  most: number;
  /** a body that brings no byte for this long is dropped */
  idleMs: number;
  signal?: AbortSignal;
  lease(bytes: number): Promise<Lease>;
  /** lands one filled chunk and releases its lease */
  land(refs: readonly ChunkRef[], blob: Buffer, lease: Lease): Promise<void>;
  /** a batch may be handed over (never waits) */
  flush(): void;
  counts: WholeCounts;
}

export interface WholeReadEnd {
  /** slices filled (and landing or landed) */
  k: number;
  /** blob offset of the next byte */
  pos: number;
  /** why the body ended before the last missing chunk, if it failed */
  cutShort: Error | null;
  landing: Set<Promise<void>>;
}

/** skipped bytes land here (its size bounds one read into it) */
const SCRATCH_BYTES = 1024 * 1024;

export function readWholeInto(blob: BlobStream & Required<Pick<BlobStream, 'readInto'>>, d: WholeReadDeps): Promise<WholeReadEnd> {
  const scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  const landing = new Set<Promise<void>>();
  let k = 0;
  let pos = 0;
  let filled = 0;
  let lease: Lease | null = null;
  let into: 'skip' | 'chunk' = 'skip';
  let reads: BlobReads | null = null;
  let ended = false;
  let idle: NodeJS.Timeout | undefined;

  return new Promise<WholeReadEnd>((resolve) => {
    const done = (cutShort: Error | null): void => {
      if (ended) return;
      ended = true;
      clearTimeout(idle);
      resolve({ k, pos, cutShort, landing });
    };
    const arm = (): void => {
      clearTimeout(idle);
      idle = setTimeout(() => reads?.abort(Object.assign(new Error(`no bytes for ${d.idleMs} ms`), { name: 'TimeoutError' })), d.idleMs);
    };
    /** at a missing chunk's offset without its lease */
    const needsLease = (): boolean => k < d.slices.length && lease === null && pos >= d.slices[k]!.offset;
    /** waits until a read may go on: a landing slot, and the lease of the chunk the next byte belongs to */
    const prepare = async (): Promise<void> => {
      while (landing.size >= d.most) await Promise.race(landing);
      if (needsLease()) lease = await d.lease(d.slices[k]!.size);
      if (ended) {
        lease?.release();
        lease = null;
      }
    };
    const goOn = (): void => {
      void prepare().then(() => {
        if (ended) return;
        arm(); // the wait for leases and landings is not the store's idleness
        reads?.resume();
      });
    };
    const stop = (): void => {
      blob.stop();
      done(null);
    };

    const sink: BlobSink = {
      target() {
        const s = d.slices[k];
        if (s !== undefined && pos >= s.offset && lease !== null) {
          into = 'chunk';
          return lease.input.subarray(filled, s.size);
        }
        into = 'skip';
        const toNext = s === undefined ? scratch.length : s.offset - pos;
        return scratch.subarray(0, Math.max(1, Math.min(scratch.length, toNext)));
      },
      filled(n) {
        if (ended) return false;
        arm();
        d.counts.streamedBytes += n;
        pos += n;
        if (into === 'skip') d.counts.skippedBytes += n;
        else {
          filled += n;
          const s = d.slices[k]!;
          if (filled === s.size) {
            const l = lease!;
            const p = d.land(s.refs, l.input.subarray(0, s.size), l).finally(() => landing.delete(p));
            landing.add(p);
            lease = null;
            filled = 0;
            k++;
          }
        }
        if (k >= d.slices.length) {
          if (d.blobBytes !== undefined && pos >= d.blobBytes) return true; // at its end: let it finish
          // every missing chunk is in: the rest of the blob is not read (a deliberate stop, not a failure)
          d.counts.stoppedEarly = true;
          stop();
          return false;
        }
        if (d.signal?.aborted) {
          stop();
          return false;
        }
        d.flush();
        if (landing.size >= d.most || needsLease()) {
          goOn();
          return false;
        }
        return true;
      },
      end(err) {
        done(err);
      },
    };

    arm();
    void prepare().then(() => {
      if (ended) return;
      reads = blob.readInto(sink);
    });
  }).finally(() => {
    // a chunk the body did not finish
    lease?.release();
  });
}
