// glibc's malloc hands freed memory back to the kernel early by default (trim threshold 128 KiB),
// and raises that threshold only when a chunk it had mmapped is freed ("dynamic mmap threshold":
// mmap threshold = that chunk's size, trim threshold = twice it, capped at 32 MiB, process-wide).
// Every cipher.update() returns a fresh buffer; under the defaults their memory is trimmed at each
// GC and faulted in again, so the crypto spends more time in page faults than in AES. Measured
// here, 256 MiB of AES-256-GCM in 256 KiB updates, one thread: 0.52 user + 0.24 sys CPU-s and
// 35-38k page faults at the defaults; after one 31 MiB buffer was malloc'd and freed: 0.17 + 0.01
// CPU-s and ~300 faults (the same as starting node with GLIBC_TUNABLES=glibc.malloc.trim_threshold=
// 512M:glibc.malloc.mmap_threshold=32M). The cost: up to ~62 MiB of freed heap may stay resident.
// Elsewhere than glibc this allocates and drops one buffer, nothing more.

/** just under glibc's DEFAULT_MMAP_THRESHOLD_MAX (32 MiB on 64-bit): a larger free would not move the threshold */
const BUMP_BYTES = 31 * 1024 * 1024;

let done = false;

/** Makes glibc keep freed memory (once per process): a big buffer, malloc'd (mmapped) and left to the next GC to free. */
export function raiseMallocTrimThreshold(): void {
  if (done) return;
  done = true;
  // allocUnsafeSlow: its own malloc'd backing store, not a slice of Node's buffer pool; touched so it is really mapped
  const big = Buffer.allocUnsafeSlow(BUMP_BYTES);
  big[0] = 1;
}
