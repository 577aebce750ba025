// What the agent keeps on disk besides chunks: state.json (the machine's PersistedState, written
// atomically on every `persist` action) and, per accepted manifest, the signed envelope with the
// plane's refs (re-verified whenever it is read back).
import { mkdir, readFile, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { verifyManifest, type ImageManifest, type PublicKeyInput } from '../../pipeline/index.js';
import type { Assignment, PersistedState } from '../machine/index.js';
import { writeDurable } from './durable.js';

const assignment = z.strictObject({ imageId: z.string().min(1), version: z.string().min(1) });
const chunkRef = z.strictObject({ index: z.number().int().nonnegative(), digest: z.string().regex(/^[0-9a-f]{64}$/), size: z.number().int().positive() });
const manifestInfo = z.strictObject({ imageId: z.string(), version: z.string(), size: z.number().int().nonnegative(), chunks: z.array(chunkRef), keyRef: z.string() });

export const persistedStateSchema = z.strictObject({
  assignment: assignment.nullable(),
  manifest: manifestInfo.nullable(),
  verifiedChunks: z.array(z.number().int().nonnegative()),
  staged: assignment.nullable(),
  heldDigests: z.array(z.string()).optional(),
  boots: z.number().int().nonnegative().optional(),
  pendingBoot: z.boolean().optional(),
});

const sidecarSchema = z.strictObject({ envelope: z.base64(), keyRef: z.string().min(1), blobRef: z.string().min(1) });

/** A verified manifest with the plane refs it came with. */
export interface AcceptedManifest {
  manifest: ImageManifest;
  envelope: Buffer;
  keyRef: string;
  blobRef: string;
}

export const refOf = (a: Assignment): string => `${a.imageId}@${a.version}`;

export class StateStore {
  readonly statePath: string;
  readonly manifestsDir: string;

  constructor(
    readonly dir: string,
    private readonly trusted: readonly PublicKeyInput[],
  ) {
    this.statePath = join(dir, 'state.json');
    this.manifestsDir = join(dir, 'manifests');
  }

  async init(): Promise<void> {
    await mkdir(this.manifestsDir, { recursive: true });
  }

  /**
   * The persisted state, or null on a first start. A state file that does not parse (it cannot
   * be half-written, so something else damaged it) is moved aside and the agent starts afresh:
   * it refetches, which is safe.
   */
  async load(onCorrupt: (why: string) => void): Promise<PersistedState | null> {
    let text: string;
    try {
      text = await readFile(this.statePath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    let json: unknown;
    let why: string | null = null;
    try {
      json = JSON.parse(text);
    } catch (err) {
      why = `not JSON: ${(err as Error).message}`;
    }
    if (why === null) {
      const parsed = persistedStateSchema.safeParse(json);
      if (parsed.success) return parsed.data;
      why = z.prettifyError(parsed.error);
    }
    const aside = `${this.statePath}.corrupt-${Date.now()}`;
    await rename(this.statePath, aside);
    onCorrupt(`${why} (moved to ${aside})`);
    return null;
  }

  async save(state: PersistedState): Promise<void> {
    await writeDurable(this.statePath, `${JSON.stringify(state)}\n`);
  }

  private sidecarPath(a: Assignment): string {
    return join(this.manifestsDir, `${refOf(a)}.json`);
  }

  async saveManifest(m: AcceptedManifest): Promise<void> {
    await writeDurable(this.sidecarPath(m.manifest), JSON.stringify({ envelope: m.envelope.toString('base64'), keyRef: m.keyRef, blobRef: m.blobRef }));
  }

  /** The stored manifest of `a`, re-verified; null when absent or no longer valid. */
  async loadManifest(a: Assignment): Promise<AcceptedManifest | null> {
    try {
      const side = sidecarSchema.parse(JSON.parse(await readFile(this.sidecarPath(a), 'utf8')));
      const envelope = Buffer.from(side.envelope, 'base64');
      const manifest = verifyManifest(envelope, this.trusted);
      if (manifest.imageId !== a.imageId || manifest.version !== a.version) return null;
      return { manifest, envelope, keyRef: side.keyRef, blobRef: side.blobRef };
    } catch {
      return null;
    }
  }

  /** Removes stored manifests other than those of `keep`. */
  async pruneManifests(keep: readonly Assignment[]): Promise<void> {
    const wanted = new Set(keep.map((a) => `${refOf(a)}.json`));
    for (const name of await readdir(this.manifestsDir)) if (!wanted.has(name)) await unlink(join(this.manifestsDir, name)).catch(() => undefined);
  }
}
