// Which chunks of the current manifest the node holds, as pure functions of PersistedState.
// Chunks are addressed by digest in the store, so a new manifest's chunks whose digests are
// already held count as verified (delta update), and chunks sharing a digest (zero blocks) are
// held together. Kept cheap: the simulator steps ~2M times per run, with hundreds of chunks.

import type { ChunkRef, ManifestInfo, PersistedState } from './types.js';

/** Facts about one manifest that never change; see `indexOf`. */
interface ManifestIndex {
  /** position in `chunks` of a chunk index; -1 when the manifest has no such chunk */
  positionOf(index: number): number;
  /** for each position, the positions of all chunks with the same digest (itself included) */
  sameDigest: readonly (readonly number[])[];
  /** digest → the positions holding it */
  byDigest: ReadonlyMap<string, readonly number[]>;
  /** the manifest's distinct digests, in manifest order */
  digests: readonly string[];
  /** withStored's answer for the whole manifest, in order, stored on a node holding nothing (once asked) */
  whole?: { verifiedChunks: number[]; heldDigests: string[] };
}

// A memo of a pure function of an immutable manifest, keyed by identity: it changes no result,
// and a fleet sharing one manifest object computes it once.
const indexes = new WeakMap<ManifestInfo, ManifestIndex>();

function indexOf(manifest: ManifestInfo): ManifestIndex {
  let index = indexes.get(manifest);
  if (index === undefined) {
    index = buildIndex(manifest);
    indexes.set(manifest, index);
  }
  return index;
}

function buildIndex(manifest: ManifestInfo): ManifestIndex {
  const chunks = manifest.chunks;
  const byDigest = new Map<string, number[]>();
  chunks.forEach((chunk, position) => {
    const positions = byDigest.get(chunk.digest);
    if (positions === undefined) byDigest.set(chunk.digest, [position]);
    else positions.push(position);
  });
  const sameDigest = chunks.map((chunk) => byDigest.get(chunk.digest)!);
  const inOrder = chunks.every((chunk, position) => chunk.index === position);
  const positions = inOrder ? null : new Map(chunks.map((chunk, position) => [chunk.index, position]));
  const positionOf = positions === null ? (i: number) => (Number.isInteger(i) && i >= 0 && i < chunks.length ? i : -1) : (i: number) => positions.get(i) ?? -1;
  return { positionOf, sameDigest, byDigest, digests: Object.freeze([...byDigest.keys()]) };
}

function verifiedMask(p: PersistedState, index: ManifestIndex): Uint8Array {
  const mask = new Uint8Array(p.manifest!.chunks.length);
  for (const i of p.verifiedChunks) {
    const position = index.positionOf(i);
    if (position >= 0) mask[position] = 1;
  }
  return mask;
}

/** Chunks of the current manifest not verified locally, in manifest order. */
export function missingChunks(p: PersistedState): ChunkRef[] {
  const chunks = p.manifest!.chunks;
  if (p.verifiedChunks.length === 0) return chunks;
  const mask = verifiedMask(p, indexOf(p.manifest!));
  return chunks.filter((_, position) => mask[position] === 0);
}

/** Adopts a manifest: its chunks whose digests are held are verified already. */
export function withManifest(p: PersistedState, manifest: ManifestInfo): PersistedState {
  const held = p.heldDigests ?? [];
  if (held.length === 0) return { ...p, manifest, verifiedChunks: [] };
  const index = indexOf(manifest);
  const mask = new Uint8Array(manifest.chunks.length);
  for (const digest of held) for (const position of index.byDigest.get(digest) ?? []) mask[position] = 1;
  const verifiedChunks: number[] = [];
  manifest.chunks.forEach((chunk, position) => {
    if (mask[position] === 1) verifiedChunks.push(chunk.index);
  });
  return { ...p, manifest, verifiedChunks };
}

/** Records newly stored chunks (with every chunk sharing their digest); null when nothing is new. */
export function withStored(p: PersistedState, stored: readonly number[]): PersistedState | null {
  const manifest = p.manifest!;
  const index = indexOf(manifest);
  // The common case (a whole image arrives at a node that held none of it) has the same answer
  // on every node: computed once per manifest and shared (frozen: nothing may edit it in place).
  if (p.verifiedChunks.length === 0 && (p.heldDigests ?? []).length === 0 && isWholeManifest(manifest, stored)) {
    index.whole ??= storedFromEmpty(manifest, index, stored);
    return { ...p, verifiedChunks: index.whole.verifiedChunks, heldDigests: index.whole.heldDigests };
  }
  return storedInto(p, manifest, index, stored);
}

/** `stored` lists the manifest's chunk indices in manifest order. */
function isWholeManifest(manifest: ManifestInfo, stored: readonly number[]): boolean {
  const chunks = manifest.chunks;
  if (stored.length !== chunks.length) return false;
  for (let i = 0; i < stored.length; i++) if (stored[i] !== chunks[i].index) return false;
  return true;
}

function storedFromEmpty(manifest: ManifestInfo, index: ManifestIndex, stored: readonly number[]): { verifiedChunks: number[]; heldDigests: string[] } {
  const empty: PersistedState = { assignment: null, manifest, verifiedChunks: [], staged: null, heldDigests: [] };
  const p = storedInto(empty, manifest, index, stored)!;
  return { verifiedChunks: Object.freeze(p.verifiedChunks) as number[], heldDigests: Object.freeze(p.heldDigests!) as string[] };
}

function storedInto(p: PersistedState, manifest: ManifestInfo, index: ManifestIndex, stored: readonly number[]): PersistedState | null {
  let mask: Uint8Array | null = null;
  const indices: number[] = [];
  const digests: string[] = [];
  for (const chunkIndex of stored) {
    const position = index.positionOf(chunkIndex);
    if (position < 0) continue;
    mask ??= verifiedMask(p, index);
    if (mask[position] === 1) continue;
    // a digest is held iff its chunks are verified: they are always marked together
    digests.push(manifest.chunks[position].digest);
    for (const same of index.sameDigest[position]) {
      mask[same] = 1;
      indices.push(manifest.chunks[same].index);
    }
  }
  if (indices.length === 0) return null;
  const verifiedChunks = p.verifiedChunks.concat(indices);
  return { ...p, verifiedChunks, heldDigests: (p.heldDigests ?? []).concat(digests) };
}

/** Once staged, only this manifest's chunks need to stay held (older ones may be collected). */
export function withStaged(p: PersistedState): PersistedState {
  return { ...p, staged: p.assignment, pendingBoot: true, heldDigests: indexOf(p.manifest!).digests as string[] };
}

/** The staged image failed verification: forget this manifest's chunks so they are fetched again. */
export function withoutManifestChunks(p: PersistedState): PersistedState {
  const mine = indexOf(p.manifest!).byDigest;
  return { ...p, verifiedChunks: [], heldDigests: (p.heldDigests ?? []).filter((digest) => !mine.has(digest)) };
}
