// What a node must fetch to go from one image version to the next, by chunk address.
import type { ChunkRef } from '../agent/machine/index.js';

export interface DeltaPlan {
  /** chunks of `next` whose blobs the node does not have (each digest once) */
  fetch: ChunkRef[];
  fetchBytes: number;
  /** chunks of `next` already present from `prev` (or repeated within `next`) */
  reused: ChunkRef[];
  reusedBytes: number;
  /** blob bytes of `next` as listed (what a fetch from scratch would move, without dedup) */
  totalBytes: number;
}

export function deltaPlan(prev: { chunks: readonly ChunkRef[] } | null, next: { chunks: readonly ChunkRef[] }): DeltaPlan {
  const have = new Set(prev?.chunks.map((c) => c.digest));
  const plan: DeltaPlan = { fetch: [], fetchBytes: 0, reused: [], reusedBytes: 0, totalBytes: 0 };
  for (const c of next.chunks) {
    const ref = { index: c.index, digest: c.digest, size: c.size };
    plan.totalBytes += c.size;
    if (have.has(c.digest)) {
      plan.reused.push(ref);
      plan.reusedBytes += c.size;
    } else {
      have.add(c.digest);
      plan.fetch.push(ref);
      plan.fetchBytes += c.size;
    }
  }
  return plan;
}
