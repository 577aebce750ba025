// Which chunks of the current manifest the node holds, as pure functions of PersistedState.
// Chunks are addressed by digest in the store, so a new manifest's chunks whose digests are
// already held count as verified (delta update).

import type { ChunkRef, ManifestInfo, PersistedState } from './types.js';

/** The manifest's chunk with this index (manifests list chunks by position; fall back to a search). */
export function chunkAt(manifest: ManifestInfo, index: number): ChunkRef | undefined {
  const atPosition = manifest.chunks[index];
  return atPosition !== undefined && atPosition.index === index ? atPosition : manifest.chunks.find((c) => c.index === index);
}

/** Chunks of the current manifest not verified locally, in manifest order. */
export function missingChunks(p: PersistedState): ChunkRef[] {
  const chunks = p.manifest!.chunks;
  if (p.verifiedChunks.length === 0) return chunks;
  const verified = new Set(p.verifiedChunks);
  return chunks.filter((c) => !verified.has(c.index));
}

/** Adopts a manifest: its chunks whose digests are held are verified already. */
export function withManifest(p: PersistedState, manifest: ManifestInfo): PersistedState {
  const held = new Set(p.heldDigests ?? []);
  const verifiedChunks = held.size === 0 ? [] : manifest.chunks.filter((c) => held.has(c.digest)).map((c) => c.index);
  return { ...p, manifest, verifiedChunks };
}

/** Records newly stored chunks; null when none of `stored` is new. */
export function withStored(p: PersistedState, stored: readonly number[]): PersistedState | null {
  const manifest = p.manifest!;
  const verified = new Set(p.verifiedChunks);
  const held = new Set(p.heldDigests ?? []);
  const indices: number[] = [];
  const digests: string[] = [];
  for (const index of stored) {
    const chunk = chunkAt(manifest, index);
    if (chunk === undefined || verified.has(index)) continue;
    verified.add(index);
    indices.push(index);
    if (!held.has(chunk.digest)) {
      held.add(chunk.digest);
      digests.push(chunk.digest);
    }
  }
  if (indices.length === 0) return null;
  return { ...p, verifiedChunks: p.verifiedChunks.concat(indices), heldDigests: (p.heldDigests ?? []).concat(digests) };
}

/** Once staged, only this manifest's chunks need to stay held (older ones may be collected). */
export function withStaged(p: PersistedState): PersistedState {
  const manifest = p.manifest!;
  const digests = [...new Set(manifest.chunks.map((c) => c.digest))];
  return { ...p, staged: { imageId: manifest.imageId, version: manifest.version }, heldDigests: digests };
}

/** The staged image failed verification: forget this manifest's chunks so they are fetched again. */
export function withoutManifestChunks(p: PersistedState): PersistedState {
  const mine = new Set(p.manifest!.chunks.map((c) => c.digest));
  return { ...p, verifiedChunks: [], heldDigests: (p.heldDigests ?? []).filter((digest) => !mine.has(digest)) };
}
