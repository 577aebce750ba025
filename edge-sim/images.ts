// The image being rolled out, as the agent sees it: a manifest of sealed chunks. For a delta
// update the previous version shares a seeded fraction of its chunks (same ciphertext digest).
import type { Assignment, ChunkRef, ManifestInfo, PersistedState } from '../agent/machine/index.js';
import { emptyPersisted } from '../agent/machine/index.js';
import type { Scenario } from '../scenarios/index.js';
import { streamRng } from './rng.js';

/** AES-256-GCM adds a 16-byte tag to every sealed chunk (see pipeline/). */
export const GCM_TAG_BYTES = 16;

export interface RolloutImages {
  target: Assignment;
  manifest: ManifestInfo;
  previous: { assignment: Assignment; manifest: ManifestInfo } | null;
  /** bytes a node must fetch: all chunks, or for a delta only those not in the previous version */
  fetchBytesPerNode: number;
  /** the chunks a node must fetch, in manifest order */
  fetchList: ChunkRef[];
  /** bytes of the whole sealed image */
  sealedBytes: number;
}

export function rolloutImages(scenario: Scenario, seed: number): RolloutImages {
  const { sizeBytes, chunkBytes, previous } = scenario.image;
  const count = Math.ceil(sizeBytes / chunkBytes);
  const sizeOf = (i: number): number => (i < count - 1 ? chunkBytes : sizeBytes - chunkBytes * (count - 1)) + GCM_TAG_BYTES;
  const target: Assignment = { imageId: 'appliance', version: previous ? 'v2' : 'v1' };
  const shared = new Uint8Array(count);
  if (previous) {
    const rng = streamRng(seed, 'delta-shared-chunks');
    for (let i = 0; i < count; i++) shared[i] = rng.bernoulli(previous.sharedFraction) ? 1 : 0;
  }
  const chunks: ChunkRef[] = [];
  const prevChunks: ChunkRef[] = [];
  let fetchBytes = 0;
  let sealed = 0;
  const fetchList: ChunkRef[] = [];
  for (let i = 0; i < count; i++) {
    const size = sizeOf(i);
    const digest = shared[i] ? `v1-${i}` : `${target.version}-${i}`;
    chunks.push({ index: i, digest, size });
    prevChunks.push({ index: i, digest: `v1-${i}`, size });
    sealed += size;
    if (!shared[i]) {
      fetchBytes += size;
      fetchList.push(chunks[i]);
    }
  }
  const manifest: ManifestInfo = { imageId: target.imageId, version: target.version, size: sizeBytes, chunks, keyRef: 'kms:appliance' };
  return {
    target,
    manifest,
    previous: previous
      ? {
          assignment: { imageId: target.imageId, version: 'v1' },
          manifest: { ...manifest, version: 'v1', chunks: prevChunks },
        }
      : null,
    fetchBytesPerNode: fetchBytes,
    fetchList,
    sealedBytes: sealed,
  };
}

/** A node that runs the previous version, fully verified and staged, before the rollout. */
export function installedPrevious(images: RolloutImages): PersistedState | null {
  if (!images.previous) return null;
  const p = emptyPersisted();
  return {
    ...p,
    assignment: images.previous.assignment,
    manifest: images.previous.manifest,
    verifiedChunks: images.previous.manifest.chunks.map((c) => c.index),
    staged: images.previous.assignment,
    heldDigests: images.previous.manifest.chunks.map((c) => c.digest),
  };
}

/**
 * The agent's whole-stream rule (agent/runtime/fetcher.ts, `fetch.wholeStreamAt`): one GET of the
 * whole blob when the plane can stream it and at least that fraction of the blob is missing.
 */
export function streamsWhole(wholeStreamAt: number | 'never', planeCanStream: boolean, missingBytes: number, blobBytes: number): boolean {
  if (wholeStreamAt === 'never' || !planeCanStream || !(blobBytes > 0)) return false;
  return missingBytes > 0 && missingBytes >= wholeStreamAt * blobBytes;
}
