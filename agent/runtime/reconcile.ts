// Start-up reconciliation of the persisted state with what is actually on disk. The node holds a
// chunk when its plaintext is in the staged image (every chunk of the staged manifest) or in the
// partial image of the current assignment (what its journal lists). A SIGKILL can land between a
// chunk's journal line and the `persist` that records it: such chunks are counted held here, so
// they are never fetched again; chunks the state lists but no file holds any more are forgotten
// (fetched again). Stale files go.
import { readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Assignment, PersistedState } from '../machine/index.js';
import { journalPathFor, partPathFor, readJournal } from './direct-stage.js';
import { isTempName } from './durable.js';
import { refOf } from './state-store.js';

export interface ReconcileReport {
  /** chunks of the current manifest found journaled on disk that the persisted state did not list */
  adopted: number;
  /** chunks the persisted state listed as verified that no file on disk holds any more */
  removed: number;
  /** the staged image file was missing, so the staged state was dropped */
  stagedLost: boolean;
  /** the staged image file no longer matched its signed manifest: deleted, staged again */
  stagedRefused?: boolean;
}

export const stagedFileName = (a: { imageId: string; version: string }): string => `${refOf(a)}.img`;

export interface ReconcileOptions {
  /**
   * Checks the staged image file against its signed manifest: the manifest's blob digests when it
   * matches, null when it does not (it is then deleted and the staged state dropped).
   */
  checkStaged(staged: Assignment, path: string): Promise<readonly string[] | null>;
}

export async function reconcile(p: PersistedState, stagedDir: string, opts: ReconcileOptions): Promise<{ state: PersistedState; report: ReconcileReport }> {
  const report: ReconcileReport = { adopted: 0, removed: 0, stagedLost: false };
  let state: PersistedState = { ...p };
  const files = new Set(await readdir(stagedDir));

  let stagedDigests: readonly string[] = [];
  if (state.staged !== null) {
    const path = join(stagedDir, stagedFileName(state.staged));
    const digests = files.has(stagedFileName(state.staged)) ? await opts.checkStaged(state.staged, path) : null;
    if (digests === null) {
      if (files.has(stagedFileName(state.staged))) {
        await unlink(path).catch(() => undefined);
        files.delete(stagedFileName(state.staged));
        report.stagedRefused = true;
      } else report.stagedLost = true;
      state = { ...state, staged: null, pendingBoot: false };
    } else stagedDigests = digests;
  }

  // the partial image of the current assignment (when it is not what is staged already)
  const building = state.assignment !== null && state.manifest !== null && (state.staged === null || refOf(state.staged) !== refOf(state.assignment)) ? state.assignment : null;
  const buildingImg = building && stagedFileName(building);
  if (buildingImg && files.has(buildingImg)) {
    // completed and renamed, killed before the state said so: it is a part again, all of it journaled
    // (`finish` hashes it whole before it gets its name back)
    await writeFile(join(stagedDir, journalPathFor(buildingImg)), `${[...new Set(state.manifest!.chunks.map((c) => c.digest))].join('\n')}\n`, { mode: 0o600 });
    await rename(join(stagedDir, buildingImg), join(stagedDir, partPathFor(buildingImg)));
    files.delete(buildingImg);
    files.add(partPathFor(buildingImg)).add(journalPathFor(buildingImg));
  }
  const keep = new Set<string>(state.staged ? [stagedFileName(state.staged)] : []);
  if (buildingImg && files.has(partPathFor(buildingImg))) keep.add(partPathFor(buildingImg)).add(journalPathFor(buildingImg));
  for (const name of files) {
    if (keep.has(name)) continue;
    if (isTempName(name) || name.endsWith('.img') || name.endsWith('.img.part') || name.endsWith('.img.journal')) await unlink(join(stagedDir, name)).catch(() => undefined);
  }

  const journaled = buildingImg && keep.has(partPathFor(buildingImg)) ? await readJournal(join(stagedDir, journalPathFor(buildingImg))) : [];
  const held = new Set([...stagedDigests, ...journaled]);
  const listed = new Set(state.verifiedChunks);
  const verified = state.manifest?.chunks.filter((c) => held.has(c.digest)).map((c) => c.index) ?? [];
  const now = new Set(verified);
  report.adopted = verified.filter((i) => !listed.has(i)).length;
  report.removed = state.verifiedChunks.filter((i) => !now.has(i)).length;
  state = { ...state, verifiedChunks: verified, heldDigests: [...held] };
  return { state, report };
}
