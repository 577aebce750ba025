// Executes a `fetchChunks` action: range GETs with a bounded number in flight, each blob verified
// against its digest (and, with a DirectStage, decrypted into the staged image on a crypto worker)
// before it is written into the chunk store. Outcomes are handed back in
// batches (one directory fsync per batch), so persisting them stays cheap for big images.
import type { Logger } from '../../common/index.js';
import { TamperedError, verifyChunk } from '../../pipeline/index.js';
import type { NodePlane } from '../../adapters/index.js';
import { ResponseLengthError } from '../../adapters/transport/index.js';
import type { ChunkRef } from '../machine/index.js';
import type { ChunkStore } from './chunk-store.js';
import type { DirectStage } from './direct-stage.js';

export interface ChunkBatch {
  stored: number[];
  corrupt: number[];
  unavailable: number[];
  final: boolean;
}

export interface FetchChunksOptions {
  plane: Pick<NodePlane, 'downloadRange'>;
  blobRef: string;
  /** blob offset of each chunk, by chunk index */
  offsets: readonly number[];
  chunks: readonly ChunkRef[];
  store: ChunkStore;
  rangesInFlight: number;
  batchMs: number;
  onBatch: (batch: ChunkBatch) => void;
  /** stop starting new requests once aborted (a crash or shutdown is coming) */
  signal?: AbortSignal;
  log: Logger;
  /**
   * verify + decrypt each blob on a crypto worker as it arrives and write its plaintext into the
   * staged image at once (no second pass); without it, blobs are only verified (SHA-256) here
   */
  direct?: DirectStage;
}

export async function fetchChunks(opts: FetchChunksOptions): Promise<void> {
  // chunks sharing a digest are one blob: fetch it once, report every index holding it
  const byDigest = new Map<string, ChunkRef[]>();
  for (const c of opts.chunks) {
    const same = byDigest.get(c.digest);
    if (same) same.push(c);
    else byDigest.set(c.digest, [c]);
  }
  const work = [...byDigest.values()];
  let next = 0;
  let pending: Omit<ChunkBatch, 'final'> = { stored: [], corrupt: [], unavailable: [] };
  let lastFlush = performance.now();
  let flushing: Promise<void> = Promise.resolve();
  // once the plane fails a range, the round ends: the rest is reported unavailable and the
  // machine backs off, instead of every remaining chunk failing against a dead service
  let planeDown = false;

  const flush = async (final: boolean): Promise<void> => {
    const batch = pending;
    pending = { stored: [], corrupt: [], unavailable: [] };
    lastFlush = performance.now();
    // the renames of this batch's chunks are durable before the machine may persist them
    if (batch.stored.length > 0) await opts.store.sync();
    opts.onBatch({ ...batch, final });
  };

  const fetchOne = async (refs: ChunkRef[]): Promise<void> => {
    const ref = refs[0];
    const indices = refs.map((r) => r.index);
    let blob: Buffer;
    try {
      blob = await opts.plane.downloadRange(opts.blobRef, opts.offsets[ref.index], ref.size);
    } catch (err) {
      if (err instanceof ResponseLengthError) {
        // the plane answered with the wrong number of bytes: a bad blob, like one failing its digest
        opts.log.warn({ chunk: ref.index, err: err.message }, 'chunk failed verification (length)');
        pending.corrupt.push(...indices);
        return;
      }
      opts.log.warn({ chunk: ref.index, err: (err as Error).message }, 'chunk unavailable: ending this fetch round');
      pending.unavailable.push(...indices);
      planeDown = true;
      return;
    }
    if (opts.direct) {
      try {
        await opts.direct.land(indices, blob);
      } catch (err) {
        if (err instanceof TamperedError) {
          opts.log.warn({ chunk: ref.index, err: err.message }, 'chunk failed verification');
          pending.corrupt.push(...indices);
        } else {
          opts.log.error({ chunk: ref.index, err: (err as Error).message }, 'cannot decrypt or stage chunk');
          pending.unavailable.push(...indices);
        }
        return;
      }
    } else if (!verifyChunk(ref, blob)) {
      opts.log.warn({ chunk: ref.index, bytes: blob.length, expected: ref.size }, 'chunk failed verification');
      pending.corrupt.push(...indices);
      return;
    }
    try {
      await opts.store.put(ref.digest, blob);
      pending.stored.push(...indices);
    } catch (err) {
      opts.log.error({ chunk: ref.index, err: (err as Error).message }, 'cannot store chunk');
      pending.unavailable.push(...indices);
    }
  };

  const worker = async (): Promise<void> => {
    while (next < work.length && !opts.signal?.aborted && !planeDown) {
      await fetchOne(work[next++]);
      if (performance.now() - lastFlush >= opts.batchMs) {
        await flushing;
        flushing = flush(false);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.rangesInFlight, Math.max(1, work.length)) }, worker));
  await flushing;
  // chunks never started (aborted, or the plane failed) are reported unavailable so the event stays complete
  for (; next < work.length; next++) pending.unavailable.push(...work[next].map((r) => r.index));
  await flush(true);
}
