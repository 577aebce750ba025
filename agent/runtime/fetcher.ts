// Executes a `fetchChunks` action: range GETs with a bounded number in flight, each blob verified
// against its digest and decrypted on a crypto worker, its plaintext written into the partial
// staged image (DirectStage; no ciphertext is kept). Outcomes are handed back in batches (one
// fdatasync of the part and one journal append per batch), so persisting them stays cheap.
//
// Whole-stream mode, when most of the blob is missing (`wholeStreamAt`: one GET avoids the store's
// per-request cost) or for a store that refuses ranges (Glance on Ceph RBD answers 400 to any
// Range; the plane says so with `rangesRefused`, or a range throws such an error): the blob is
// read once from its start and sliced by the manifest's blob offsets. The bytes of chunks the node
// holds already are read past (neither verified nor written again); each missing chunk goes
// through exactly the path a range does (verify, decrypt into the staged image, journal); the
// stream is stopped as soon as the last missing chunk has arrived. A stream cut short leaves the
// chunks it did not deliver unavailable (the machine backs off; the next round streams again and
// skips what was stored); a stream that ends cleanly inside a chunk delivered wrong bytes (corrupt).
import type { Logger } from '../../common/index.js';
import { TamperedError, type Lease } from '../../pipeline/index.js';
import { isRangesRefused, type NodePlane } from '../../adapters/index.js';
import { describeCause, ResponseLengthError } from '../../adapters/transport/index.js';
import type { ChunkRef } from '../machine/index.js';
import type { DirectStage } from './direct-stage.js';
import { readWholeInto, type Slice } from './whole-into.js';

export interface ChunkBatch {
  stored: number[];
  corrupt: number[];
  unavailable: number[];
  final: boolean;
}

export interface FetchChunksOptions {
  plane: Pick<NodePlane, 'downloadRange' | 'downloadBlob' | 'rangesRefused'>;
  blobRef: string;
  /** blob offset of each chunk, by chunk index */
  offsets: readonly number[];
  /** the blob's size (sum of the manifest's chunk sizes): a whole stream that reaches it is read to its end, not stopped */
  blobBytes?: number;
  /** whole-stream mode: a stream that brings no byte for this long is dropped (cut short; default 60 s) */
  streamIdleMs?: number;
  chunks: readonly ChunkRef[];
  /** ranges in flight; in whole-stream mode, chunks being verified and stored while the stream goes on */
  rangesInFlight: number;
  /** stream the blob whole when at least this fraction of `blobBytes` is missing and the plane can (default 0.5; `never`: only when ranges are refused) */
  wholeStreamAt?: number | 'never';
  batchMs: number;
  onBatch: (batch: ChunkBatch) => void;
  /** stop starting new requests once aborted (a crash or shutdown is coming) */
  signal?: AbortSignal;
  log: Logger;
  /**
   * where each blob goes as it arrives: verified + decrypted on a crypto worker, its plaintext
   * written into the partial staged image (the only copy the node keeps), journaled at each batch
   */
  direct: DirectStage;
}

/** How a fetch round read its bytes (for the runtime's `fetch` event). */
export interface FetchSummary {
  /** `whole` when (part of) the round streamed the blob whole */
  mode: 'ranges' | 'whole';
  /** why it streamed whole: most of the blob was missing (`wholeStreamAt`), or the store refuses ranges */
  why?: 'most-missing' | 'ranges-refused';
  /** ranged GETs asked of the plane in this round (a refused one included) */
  ranges: number;
  /** whole-stream mode: bytes read off the stream; of those, bytes of chunks not asked for (held already: read past) */
  streamedBytes: number;
  skippedBytes: number;
  /** whole-stream mode: the stream was stopped once every missing chunk had arrived (the rest of the blob unread) */
  stoppedEarly: boolean;
}

type Outcomes = Omit<ChunkBatch, 'final'>;
const none = (): Outcomes => ({ stored: [], corrupt: [], unavailable: [] });
const indicesOf = (refs: readonly ChunkRef[]) => refs.map((r) => r.index);

/** One fetch round's outcomes, batched to the machine. */
class Round {
  pending: Outcomes = none();
  private lastFlush = performance.now();
  private flushing: Promise<void> = Promise.resolve();
  private busy = false;
  private failed: unknown = null;

  constructor(private readonly opts: FetchChunksOptions) {}

  /** hands the batch over when `batchMs` has passed since the last one; never waits for a flush under way (its syncs go on beside the fetch) */
  async maybeFlush(): Promise<void> {
    if (this.busy || performance.now() - this.lastFlush < this.opts.batchMs) return;
    this.busy = true;
    this.flushing = this.flush(false)
      .catch((err: unknown) => {
        this.failed ??= err; // rethrown at the end of the round
      })
      .finally(() => {
        this.busy = false;
      });
  }

  async end(): Promise<void> {
    await this.flushing;
    if (this.failed !== null) throw this.failed;
    await this.flush(true);
  }

  private async flush(final: boolean): Promise<void> {
    const batch = this.pending;
    this.pending = none();
    this.lastFlush = performance.now();
    // this batch's chunks are durable (part fdatasynced, then journaled) before the machine may persist them
    if (batch.stored.length > 0) await this.opts.direct.sync();
    this.opts.onBatch({ ...batch, final });
  }

  /**
   * Verifies and decrypts into the staged image one blob that arrived, by range or off
   * the stream. With `lease` the blob is `lease.input[0, blob.length)` (filled off the stream, no
   * copy); the lease is released here.
   */
  async land(refs: readonly ChunkRef[], blob: Buffer, lease?: Lease): Promise<void> {
    try {
      await this.landOnce(refs, blob, lease);
    } finally {
      lease?.release();
    }
  }

  private async landOnce(refs: readonly ChunkRef[], blob: Buffer, lease: Lease | undefined): Promise<void> {
    const { direct, log } = this.opts;
    const ref = refs[0];
    try {
      if (lease) await direct.landLeased(indicesOf(refs), lease, blob.length);
      else await direct.land(indicesOf(refs), blob);
      this.pending.stored.push(...indicesOf(refs));
    } catch (err) {
      if (err instanceof TamperedError) {
        log.warn({ chunk: ref.index, err: err.message }, 'chunk failed verification');
        this.pending.corrupt.push(...indicesOf(refs));
      } else {
        log.error({ chunk: ref.index, err: (err as Error).message }, 'cannot decrypt or stage chunk');
        this.pending.unavailable.push(...indicesOf(refs));
      }
    }
  }
}

export async function fetchChunks(opts: FetchChunksOptions): Promise<FetchSummary> {
  // chunks sharing a digest are one blob: fetch it once, report every index holding it
  const byDigest = new Map<string, ChunkRef[]>();
  for (const c of opts.chunks) {
    const same = byDigest.get(c.digest);
    if (same) same.push(c);
    else byDigest.set(c.digest, [c]);
  }
  const work = [...byDigest.values()];
  const summary: FetchSummary = { mode: 'ranges', ranges: 0, streamedBytes: 0, skippedBytes: 0, stoppedEarly: false };
  const round = new Round(opts);
  const refused = opts.plane.rangesRefused?.(opts.blobRef) === true;
  const streamAll = refused || mostMissing(opts, work);
  const whole = streamAll ? work : await fetchRanges(opts, work, summary, round);
  if (whole.length > 0) {
    summary.mode = 'whole';
    summary.why = streamAll && !refused ? 'most-missing' : 'ranges-refused';
    if (opts.plane.downloadBlob) await fetchWhole(opts, opts.plane.downloadBlob.bind(opts.plane), whole, summary, round);
    else {
      opts.log.error({ blob: opts.blobRef }, 'the store refuses ranges and this plane cannot stream a blob whole');
      for (const refs of whole) round.pending.unavailable.push(...indicesOf(refs));
    }
  }
  await round.end();
  return summary;
}

/** Is enough of the blob missing (and can the plane stream it) that one whole GET beats ranges? */
function mostMissing(opts: FetchChunksOptions, work: readonly ChunkRef[][]): boolean {
  const at = opts.wholeStreamAt ?? 0.5;
  if (at === 'never' || !opts.plane.downloadBlob || !opts.blobBytes) return false;
  const missing = work.reduce((n, refs) => n + refs[0].size, 0);
  return missing > 0 && missing >= at * opts.blobBytes;
}

/** The ranged round; returns the chunks a refusal of ranges left over (to stream whole). */
async function fetchRanges(opts: FetchChunksOptions, work: ChunkRef[][], summary: FetchSummary, round: Round): Promise<ChunkRef[][]> {
  let next = 0;
  // once the plane fails a range, the round ends: the rest is reported unavailable and the
  // machine backs off, instead of every remaining chunk failing against a dead service
  let planeDown = false;
  // once the store refuses ranges, no more are asked for: the rest is streamed whole
  const refused: ChunkRef[][] = [];

  const fetchOne = async (refs: ChunkRef[]): Promise<void> => {
    const ref = refs[0];
    let blob: Buffer;
    summary.ranges++;
    try {
      blob = await opts.plane.downloadRange(opts.blobRef, opts.offsets[ref.index], ref.size);
    } catch (err) {
      if (isRangesRefused(err)) {
        if (refused.length === 0) opts.log.info({ blob: opts.blobRef, err: (err as Error).message }, 'the store refuses ranges: streaming the blob whole');
        refused.push(refs);
      } else if (err instanceof ResponseLengthError) {
        // the plane answered with the wrong number of bytes: a bad blob, like one failing its digest
        opts.log.warn({ chunk: ref.index, err: err.message }, 'chunk failed verification (length)');
        round.pending.corrupt.push(...indicesOf(refs));
      } else {
        opts.log.warn({ chunk: ref.index, err: (err as Error).message }, 'chunk unavailable: ending this fetch round');
        round.pending.unavailable.push(...indicesOf(refs));
        planeDown = true;
      }
      return;
    }
    await round.land(refs, blob);
  };

  const worker = async (): Promise<void> => {
    while (next < work.length && !opts.signal?.aborted && !planeDown && refused.length === 0) {
      await fetchOne(work[next++]);
      await round.maybeFlush();
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.rangesInFlight, Math.max(1, work.length)) }, worker));
  const rest = work.slice(next);
  if (refused.length > 0 && !opts.signal?.aborted) return [...refused, ...rest];
  // chunks never started (aborted, or the plane failed) are reported unavailable so the event stays complete
  for (const refs of [...refused, ...rest]) round.pending.unavailable.push(...indicesOf(refs));
  return [];
}

/** Whole-stream mode for `work`: one GET of the whole blob, sliced by blob offset, stopped once the last missing chunk is in. */
async function fetchWhole(opts: FetchChunksOptions, downloadBlob: NonNullable<NodePlane['downloadBlob']>, work: ChunkRef[][], summary: FetchSummary, round: Round): Promise<void> {
  const slices: Slice[] = work
    .map((refs) => {
      const first = refs.reduce((a, b) => (opts.offsets[b.index] < opts.offsets[a.index] ? b : a));
      return { offset: opts.offsets[first.index], size: first.size, refs };
    })
    .sort((a, b) => a.offset - b.offset);
  let k = 0; // the next slice to fill
  const unfinished = (kind: 'unavailable' | 'corrupt'): void => {
    for (; k < slices.length; k++) round.pending[kind].push(...indicesOf(slices[k].refs));
  };
  if (opts.signal?.aborted) return unfinished('unavailable');
  let blob: Awaited<ReturnType<typeof downloadBlob>>;
  try {
    blob = await downloadBlob(opts.blobRef);
  } catch (err) {
    opts.log.warn({ blob: opts.blobRef, err: (err as Error).message }, 'whole-blob stream unavailable: ending this fetch round');
    return unfinished('unavailable');
  }
  const most = Math.max(1, opts.rangesInFlight);
  const idleMs = opts.streamIdleMs ?? 60_000;
  if (blob.readInto) {
    // the socket reads into the crypto leases (no copy of the bytes on the way)
    const r = await readWholeInto(blob as typeof blob & Required<Pick<typeof blob, 'readInto'>>, {
      slices,
      blobBytes: opts.blobBytes,
      most,
      idleMs,
      signal: opts.signal,
      lease: (bytes) => opts.direct.lease(bytes),
      land: (refs, buf, lease) => round.land(refs, buf, lease),
      flush: () => void round.maybeFlush(),
      counts: summary,
    });
    k = r.k;
    await Promise.all(r.landing);
    return wholeEnded(opts, slices, r.k, r.pos, r.cutShort, unfinished, () => blob.stop());
  }
  // blobs verified/stored while the stream goes on, at most `rangesInFlight` (the stream waits)
  const landing = new Set<Promise<void>>();
  let pos = 0; // blob offset of the next byte off the stream
  let buf: Buffer | null = null;
  let lease: Lease | undefined;
  let filled = 0;
  let cutShort: unknown = null;
  // a store that stalls mid-image must not hold the round forever (the transport times out headers only)
  let idle: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(idle);
    idle = setTimeout(() => blob.stream.destroy(Object.assign(new Error(`no bytes for ${idleMs} ms`), { name: 'TimeoutError' })), idleMs);
  };
  arm();
  try {
    for await (const part of blob.stream as AsyncIterable<Buffer>) {
      arm();
      summary.streamedBytes += part.length;
      let at = 0;
      while (at < part.length && k < slices.length) {
        const s = slices[k];
        if (buf === null) {
          const skip = Math.min(part.length - at, s.offset - pos);
          if (skip > 0) {
            at += skip;
            pos += skip;
            summary.skippedBytes += skip;
            continue;
          }
          // the stream fills the crypto lease itself (no per-chunk buffer, no copy into the lease)
          lease = await opts.direct.lease(s.size);
          buf = lease.input.subarray(0, s.size);
          filled = 0;
        }
        const n = Math.min(part.length - at, s.size - filled);
        part.copy(buf, filled, at, at + n);
        filled += n;
        at += n;
        pos += n;
        if (filled === s.size) {
          const p = round.land(s.refs, buf, lease).finally(() => landing.delete(p));
          landing.add(p);
          buf = null;
          lease = undefined;
          k++;
        }
      }
      if (k >= slices.length) {
        if (at < part.length) summary.skippedBytes += part.length - at;
        pos += part.length - at;
        if (opts.blobBytes !== undefined && pos >= opts.blobBytes) continue; // at its end: let it finish
        // every missing chunk is in: the rest of the blob is not read (a deliberate stop, not a failure)
        summary.stoppedEarly = true;
        blob.stop();
        break;
      }
      if (opts.signal?.aborted) break;
      while (landing.size >= most) await Promise.race(landing);
      arm(); // the wait for landings is not the store's idleness
      await round.maybeFlush();
    }
  } catch (err) {
    cutShort = err;
  } finally {
    clearTimeout(idle);
  }
  lease?.release(); // a chunk the stream did not finish
  await Promise.all(landing);
  return wholeEnded(opts, slices, k, pos, cutShort, unfinished, () => blob.stream.destroy());
}

/** The end of a whole-stream round: every missing chunk in, cut short or aborted (unavailable), or a body shorter than its manifest (corrupt). */
function wholeEnded(opts: FetchChunksOptions, slices: readonly Slice[], k: number, pos: number, cutShort: unknown, unfinished: (kind: 'unavailable' | 'corrupt') => void, drop: () => void): void {
  if (k >= slices.length) return;
  if (cutShort !== null || opts.signal?.aborted) {
    if (cutShort !== null) opts.log.warn({ blob: opts.blobRef, at: pos, err: describeCause(cutShort) }, 'whole-blob stream cut short: ending this fetch round');
    drop();
    return unfinished('unavailable');
  }
  // the stream ended cleanly inside (or before) a missing chunk: the store holds other bytes than the manifest says
  opts.log.warn({ blob: opts.blobRef, bytes: pos, chunk: slices[k].refs[0].index }, 'whole blob shorter than its manifest: chunks failed verification (length)');
  unfinished('corrupt');
}
