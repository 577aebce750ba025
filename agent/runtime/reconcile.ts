// Start-up reconciliation of the persisted state with what is actually on disk. A SIGKILL can
// land between a chunk's rename into the store and the `persist` that records it: such chunks are
// re-verified here and counted as held, so they are never fetched again. Stale files go.
import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { PersistedState } from '../machine/index.js';
import type { ChunkStore } from './chunk-store.js';
import { isTempName } from './durable.js';
import { refOf } from './state-store.js';

export interface ReconcileReport {
  /** chunks found in the store, verified, that the persisted state did not list */
  adopted: number;
  /** chunk files removed: unreferenced, or failing verification */
  removed: number;
  /** the staged image file was missing, so the staged state was dropped */
  stagedLost: boolean;
  /** the staged image file no longer matched its signed manifest: deleted, staged again */
  stagedRefused?: boolean;
}

export const stagedFileName = (a: { imageId: string; version: string }): string => `${refOf(a)}.img`;

export async function reconcile(p: PersistedState, store: ChunkStore, stagedDir: string): Promise<{ state: PersistedState; report: ReconcileReport }> {
  const report: ReconcileReport = { adopted: 0, removed: 0, stagedLost: false };
  let state: PersistedState = { ...p };

  const stagedFiles = new Set(await readdir(stagedDir));
  if (state.staged !== null && !stagedFiles.has(stagedFileName(state.staged))) {
    state = { ...state, staged: null, pendingBoot: false };
    report.stagedLost = true;
  }
  for (const name of stagedFiles) {
    if (isTempName(name) || (name.endsWith('.img') && (state.staged === null || name !== stagedFileName(state.staged)))) {
      await unlink(join(stagedDir, name)).catch(() => undefined);
    }
  }

  const inStore = new Set(await store.digests());
  const held = new Set(state.heldDigests ?? []);
  const manifest = state.manifest;
  if (manifest !== null) {
    const verified = new Set(state.verifiedChunks);
    const checked = new Map<string, boolean>();
    const adopted: number[] = [];
    for (const chunk of manifest.chunks) {
      if (verified.has(chunk.index) || !inStore.has(chunk.digest)) continue;
      let ok = checked.get(chunk.digest);
      if (ok === undefined) {
        ok = held.has(chunk.digest) || (await store.verify(chunk.digest, chunk.size));
        checked.set(chunk.digest, ok);
        if (!ok) {
          await store.remove(chunk.digest);
          inStore.delete(chunk.digest);
          report.removed++;
        }
      }
      if (ok) {
        adopted.push(chunk.index);
        if (!held.has(chunk.digest)) report.adopted++;
        held.add(chunk.digest);
      }
    }
    if (adopted.length > 0) {
      state = { ...state, verifiedChunks: [...state.verifiedChunks, ...adopted], heldDigests: [...held] };
    }
  }

  const needed = new Set([...held, ...(manifest?.chunks.map((c) => c.digest) ?? [])]);
  for (const digest of inStore) {
    if (!needed.has(digest)) {
      await store.remove(digest);
      report.removed++;
    }
  }
  return { state, report };
}
