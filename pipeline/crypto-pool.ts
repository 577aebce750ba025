// Chunk crypto on worker threads: seal (HMAC nonce + AES-256-GCM + SHA-256 of the blob) and open
// (size + SHA-256 check + AES-256-GCM decrypt) of one chunk per task, so the main thread keeps
// reading, writing and talking HTTP while the other cores do the crypto. Same blob format and
// the same checks as chunk-crypto.ts (the unit tests hold both paths byte-identical).
//
// Cipher updates are at most UPDATE_BYTES (256 KiB): each update() returns a fresh buffer, and
// large ones are fresh mmaps whose page faults cost more than the cipher (AES-256-GCM measured
// here: 2.5 GB per CPU-second at 128-256 KiB, 2.0 at 64 KiB, 0.68 at 1 MiB, 0.28 at 4 MiB).
// The worker copies each update's output into one blob/plaintext buffer whose memory is handed
// back to the caller (transferred, not copied).
//
// The worker is an eval'd CommonJS script (node:crypto only), so it runs the same from the
// sources under vitest and from dist/.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ChunkKeys } from './chunk-crypto.js';
import { TamperedError } from './errors.js';
import { raiseMallocTrimThreshold } from './malloc-tuning.js';

export const UPDATE_BYTES = 256 * 1024;

const WORKER_SOURCE = `
'use strict';
const { parentPort } = require('node:worker_threads');
const { createCipheriv, createDecipheriv, createHash, createHmac } = require('node:crypto');
const UPDATE = ${UPDATE_BYTES};
const NONCE = 12, TAG = 16;
const keys = new Map();
const aadOf = (imageId) => Buffer.from('edgeplane-chunk-v1\\0' + imageId, 'utf8');
function seal(t) {
  const k = keys.get(t.keyId);
  const plain = Buffer.from(t.input, 0, t.length);
  const out = Buffer.from(t.output);
  const nonce = createHmac('sha256', k.nonceKey).update(plain).digest().subarray(0, NONCE);
  const cipher = createCipheriv('aes-256-gcm', k.encKey, nonce, { authTagLength: TAG });
  cipher.setAAD(aadOf(t.imageId));
  nonce.copy(out, 0);
  let at = NONCE;
  for (let off = 0; off < plain.length; off += UPDATE) at += cipher.update(plain.subarray(off, off + UPDATE)).copy(out, at);
  at += cipher.final().copy(out, at);
  at += cipher.getAuthTag().copy(out, at);
  const digest = createHash('sha256').update(out.subarray(0, at)).digest('hex');
  return { length: at, digest };
}
function verify(t) {
  const blob = Buffer.from(t.input, 0, t.length);
  if (blob.length !== t.size) return { ok: false, detail: blob.length + ' bytes, manifest says ' + t.size + (blob.length < t.size ? ' (truncated)' : ' (extended)') };
  if (createHash('sha256').update(blob).digest('hex') !== t.digest) return { ok: false, detail: 'ciphertext digest does not match the manifest' };
  return { ok: true, length: 0 };
}
function open(t) {
  const k = keys.get(t.keyId);
  const blob = Buffer.from(t.input, 0, t.length);
  const checked = verify(t);
  if (!checked.ok || t.verifyOnly) return checked;
  if (blob.length < NONCE + TAG) return { ok: false, detail: blob.length + ' bytes is shorter than nonce and tag (truncated)' };
  const decipher = createDecipheriv('aes-256-gcm', k.encKey, blob.subarray(0, NONCE), { authTagLength: TAG });
  decipher.setAAD(aadOf(t.imageId));
  decipher.setAuthTag(blob.subarray(blob.length - TAG));
  const end = blob.length - TAG;
  const out = Buffer.from(t.output, t.outAt || 0);
  let at = 0;
  for (let off = NONCE; off < end; off += UPDATE) at += decipher.update(blob.subarray(off, Math.min(off + UPDATE, end))).copy(out, at);
  try {
    at += decipher.final().copy(out, at);
  } catch {
    return { ok: false, detail: 'authentication failed (modified ciphertext or wrong data key)' };
  }
  return { ok: true, length: at };
}
const READ = 1024 * 1024;
/** An O_DIRECT descriptor of path and a read buffer at an address it takes (found by trying reads), or null. */
function directReader(fs, path) {
  const flag = fs.constants.O_DIRECT;
  if (flag === undefined) return null;
  let fd;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | flag);
  } catch {
    return null;
  }
  const raw = Buffer.allocUnsafeSlow(READ + 4096);
  for (let at = 0; at < 4096; at += 16) {
    try {
      fs.readSync(fd, raw, at, 4096, 0);
      return { fd, buf: raw.subarray(at, at + READ) };
    } catch {}
  }
  fs.closeSync(fd);
  return null;
}
function hashFile(t) {
  const fs = require('node:fs');
  const hash = createHash('sha256');
  let bytes = 0;
  // past the page cache when asked (the file was written so): whole reads, then buffered from a short one on
  const direct = t.direct ? directReader(fs, t.path) : null;
  if (direct) {
    try {
      for (;;) {
        const n = fs.readSync(direct.fd, direct.buf, 0, READ, bytes);
        hash.update(direct.buf.subarray(0, n));
        bytes += n;
        if (n < READ) break;
      }
    } finally {
      fs.closeSync(direct.fd);
    }
  }
  const fd = fs.openSync(t.path, 'r');
  const buf = Buffer.allocUnsafe(UPDATE);
  try {
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, bytes);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
      bytes += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return { bytes, digest: hash.digest('hex') };
}
parentPort.on('message', (t) => {
  try {
    if (t.op === 'hashFile') {
      parentPort.postMessage({ id: t.id, ...hashFile(t) });
      return;
    }
    if (t.op === 'keys') {
      keys.set(t.keyId, { encKey: Buffer.from(t.encKey), nonceKey: Buffer.from(t.nonceKey) });
      return;
    }
    parentPort.postMessage({ id: t.id, ...(t.op === 'seal' ? seal(t) : open(t)) });
  } catch (err) {
    parentPort.postMessage({ id: t.id, error: String(err && err.message ? err.message : err) });
  }
});
`;

/**
 * One chunk's working memory: an input and an output region shared with the workers (no copy, no
 * allocation per chunk once warm). Fill `input`, hand it to `seal`/`open`, use the result (a view
 * of the output region), then `release()`: the views are not valid after that.
 */
export interface Lease {
  readonly input: Buffer;
  /**
   * Places the plaintext `open` returns at the first offset (16-byte steps, within 4 KiB) of the
   * output region whose memory `probe` accepts, e.g. an O_DIRECT write of its first 4 KiB (Node
   * cannot tell a buffer's address). The offset is kept for the slot while the same probe asks.
   * False when no offset is accepted (the output stays at 0).
   */
  alignOutput(probe: (view: Buffer) => boolean): boolean;
  release(): void;
}

/** room at the head of each output region to move the plaintext to an aligned address */
const ALIGN_SLACK = 4096;

/**
 * The first offset of `region` (16-byte steps, below 4 KiB) whose next 4 KiB of memory `probe`
 * accepts (e.g. an O_DIRECT write of them: Node cannot tell a buffer's address), or -1.
 */
export function alignedOffset(region: Buffer, probe: (view: Buffer) => boolean): number {
  for (let at = 0; at < ALIGN_SLACK && at + ALIGN_SLACK <= region.length; at += 16) if (probe(region.subarray(at, at + ALIGN_SLACK))) return at;
  return -1;
}

interface Slot {
  input: SharedArrayBuffer;
  output: SharedArrayBuffer;
  leased: boolean;
  /** where `open` puts the plaintext in `output` */
  outAt: number;
  /** the probe that chose `outAt` (null: not probed) and its verdict */
  alignedBy: ((view: Buffer) => boolean) | null;
  aligned: boolean;
}

function newSlot(bytes: number): Slot {
  return { input: new SharedArrayBuffer(bytes + 64), output: new SharedArrayBuffer(bytes + 64 + ALIGN_SLACK), leased: false, outAt: 0, alignedBy: null, aligned: false };
}

class SlotLease implements Lease {
  input: Buffer;
  private released = false;
  constructor(
    readonly slot: Slot,
    bytes: number,
    private readonly onRelease: (slot: Slot) => void,
  ) {
    this.input = Buffer.from(slot.input, 0, bytes);
  }
  alignOutput(probe: (view: Buffer) => boolean): boolean {
    const slot = this.slot;
    if (slot.alignedBy !== probe) {
      const at = alignedOffset(Buffer.from(slot.output), probe);
      slot.alignedBy = probe;
      slot.aligned = at >= 0;
      slot.outAt = Math.max(0, at);
    }
    return slot.aligned;
  }
  release(): void {
    if (this.released) return;
    this.released = true;
    this.onRelease(this.slot);
  }
}

export interface SealedChunk {
  /** nonce ‖ ciphertext ‖ tag, a view of the lease's output region */
  blob: Buffer;
  digest: string;
}

interface Pending {
  resolve: (v: Record<string, unknown>) => void;
  reject: (e: Error) => void;
}

interface WorkerSlot {
  worker: Worker;
  busy: number;
  keys: Set<number>;
}

/** Default pool size: one worker per core, at most 4 (the main thread does I/O meanwhile). */
export function defaultCryptoWorkers(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

export class CryptoPool {
  /** chunks that may be leased at once: bounds memory to about 2 x leases x the largest chunk */
  readonly leases: number;
  private readonly workers: WorkerSlot[];
  private readonly slots: Slot[] = [];
  private readonly waiting: ((slot: Slot) => void)[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly keyIds = new WeakMap<ChunkKeys, number>();
  private nextId = 1;
  private nextKeyId = 1;
  private closed = false;

  constructor(
    readonly size: number = defaultCryptoWorkers(),
    opts: { leases?: number } = {},
  ) {
    if (!Number.isInteger(size) || size < 1 || size > 64) throw new RangeError(`crypto pool size must be 1..64, got ${size}`);
    this.leases = opts.leases ?? size * 2 + 2;
    raiseMallocTrimThreshold(); // else every cipher output's memory is trimmed and faulted in again
    this.workers = Array.from({ length: size }, () => this.spawn());
  }

  private spawn(): WorkerSlot {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    const w: WorkerSlot = { worker, busy: 0, keys: new Set() };
    worker.on('message', (m: { id: number; error?: string } & Record<string, unknown>) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      w.busy--;
      if (w.busy === 0) worker.unref();
      if (m.error !== undefined) p.reject(new Error(`crypto worker: ${m.error}`));
      else p.resolve(m);
    });
    worker.on('error', (err) => this.failAll(err));
    // a worker that died is replaced: tasks sent to it would never be answered
    worker.on('exit', () => {
      if (this.closed) return;
      this.failAll(new Error('crypto worker exited'));
      const i = this.workers.indexOf(w);
      if (i >= 0) this.workers[i] = this.spawn();
    });
    worker.unref(); // an idle pool does not keep the process alive
    return w;
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /**
   * A chunk's working memory for up to `bytes` of input (and as much output); waits while all
   * leases are out. A caller holding leases of work in flight should use `tryLease` and land that
   * work first when it gets none: waiting while holding leases can deadlock two callers.
   */
  async lease(bytes: number): Promise<Lease> {
    const now = this.tryLease(bytes);
    if (now) return now;
    const slot = await new Promise<Slot>((resolve) => this.waiting.push(resolve));
    return this.grant(slot, bytes);
  }

  /** A lease at once, or null when all are out. */
  tryLease(bytes: number): Lease | null {
    if (this.closed) throw new Error('crypto pool is closed');
    if (this.waiting.length > 0) return null; // first come, first served
    let slot = this.slots.find((s) => !s.leased);
    if (!slot && this.slots.length < this.leases) {
      slot = newSlot(bytes);
      this.slots.push(slot);
    }
    return slot ? this.grant(slot, bytes) : null;
  }

  private grant(slot: Slot, bytes: number): Lease {
    slot.leased = true;
    if (slot.input.byteLength < bytes + 64) Object.assign(slot, newSlot(bytes), { leased: true });
    return new SlotLease(slot, bytes, (s) => this.giveBack(s));
  }

  private giveBack(slot: Slot): void {
    const next = this.waiting.shift();
    if (next) next(slot);
    else slot.leased = false;
  }

  private pick(): WorkerSlot {
    let best = this.workers[0];
    for (const w of this.workers) if (w.busy < best.busy) best = w;
    return best;
  }

  private keyIdOf(keys: ChunkKeys, w: WorkerSlot): number {
    let id = this.keyIds.get(keys);
    if (id === undefined) {
      id = this.nextKeyId++;
      this.keyIds.set(keys, id);
    }
    if (!w.keys.has(id)) {
      w.worker.postMessage({ op: 'keys', keyId: id, encKey: keys.encKey, nonceKey: keys.nonceKey });
      w.keys.add(id);
    }
    return id;
  }

  private run(op: 'seal' | 'open', keys: ChunkKeys, lease: Lease, length: number, extra: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.closed) return Promise.reject(new Error('crypto pool is closed'));
    const slot = (lease as SlotLease).slot;
    if (length > lease.input.length) return Promise.reject(new RangeError(`${length} bytes do not fit a lease of ${lease.input.length}`));
    const w = this.pick();
    const id = this.nextId++;
    const keyId = this.keyIdOf(keys, w);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (w.busy === 0) w.worker.ref(); // a task in flight keeps the process alive
      w.busy++;
      w.worker.postMessage({ op, id, keyId, input: slot.input, output: slot.output, length, ...extra });
    });
  }

  /** Tasks queued or running. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Encrypts the first `length` bytes of `lease.input` (one plaintext chunk) into its blob and SHA-256. */
  async seal(keys: ChunkKeys, imageId: string, lease: Lease, length: number): Promise<SealedChunk> {
    const r = (await this.run('seal', keys, lease, length, { imageId })) as { length: number; digest: string };
    return { blob: Buffer.from((lease as SlotLease).slot.output, 0, r.length), digest: r.digest };
  }

  /**
   * Checks the blob in the first `length` bytes of `lease.input` against its manifest entry (size,
   * SHA-256) and decrypts it; TamperedError on any mismatch. Returns the plaintext (a view of the
   * lease's output region).
   */
  async open(keys: ChunkKeys, imageId: string, entry: { index: number; digest: string; size: number }, lease: Lease, length: number): Promise<Buffer> {
    const { outAt, output } = (lease as SlotLease).slot;
    const r = (await this.run('open', keys, lease, length, { imageId, digest: entry.digest, size: entry.size, outAt })) as { ok: boolean; detail?: string; length?: number };
    if (!r.ok) throw new TamperedError(`chunk ${entry.index}: ${r.detail}`);
    return Buffer.from(output, outAt, r.length);
  }

  /** Only the size and SHA-256 check of `open` (no decryption): TamperedError on a mismatch. */
  async verify(keys: ChunkKeys, imageId: string, entry: { index: number; digest: string; size: number }, lease: Lease, length: number): Promise<void> {
    const r = (await this.run('open', keys, lease, length, { imageId, digest: entry.digest, size: entry.size, verifyOnly: true })) as { ok: boolean; detail?: string };
    if (!r.ok) throw new TamperedError(`chunk ${entry.index}: ${r.detail}`);
  }

  /** SHA-256 of a whole file, read and hashed on a worker thread (`direct`: read past the page cache where the file system can). */
  hashFile(path: string, opts: { direct?: boolean } = {}): Promise<{ bytes: number; digest: string }> {
    if (this.closed) return Promise.reject(new Error('crypto pool is closed'));
    const w = this.pick();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: Record<string, unknown>) => void, reject });
      if (w.busy === 0) w.worker.ref();
      w.busy++;
      w.worker.postMessage({ op: 'hashFile', id, path, direct: opts.direct === true });
    });
  }

  /** Stops the workers; tasks still in flight fail. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new Error('crypto pool closed'));
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}

let shared: CryptoPool | null = null;

/** One pool per process, created on first use; its idle workers do not keep the process alive. */
export function sharedCryptoPool(): CryptoPool {
  shared ??= new CryptoPool();
  return shared;
}
