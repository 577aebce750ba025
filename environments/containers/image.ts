// The agent image, without a registry: a root filesystem built here (rootfs.sh: a minimal Debian
// root with this machine's Node, cached) imported into each engine once (the engine's image create
// from source, `POST /images/create?fromSrc=-`). Tagged by the root's cache key, so an engine that
// has it already is not sent it again.
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { execa } from 'execa';
import { EnvironmentError, packageRoot } from '../../common/index.js';

export const IMAGE_REPO = 'localhost/edgeplane-agent';

/** The root filesystem as a tar (built or taken from the cache by rootfs.sh); `remove()` deletes the tar. */
export async function buildRootfs(): Promise<{ tar: string; key: string; remove: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'epct-rootfs-'));
  const tar = join(dir, 'rootfs.tar');
  const script = join(packageRoot(), 'environments', 'containers', 'rootfs.sh');
  const r = await execa('bash', [script, tar], { reject: false });
  if (r.exitCode !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new EnvironmentError(`could not build the agent image's root filesystem (${script}, exit ${r.exitCode}; needs root and debootstrap): ${r.stderr.slice(-1500)}`);
  }
  return { tar, key: r.stdout.trim().split('\n').pop()!, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

async function hasImage(docker: Docker, ref: string): Promise<boolean> {
  try {
    await docker.getImage(ref).inspect();
    return true;
  } catch {
    return false;
  }
}

/** `IMAGE_REPO:<key>` in the engine, imported from `tar` unless it is there already. Returns the reference. */
export async function ensureImage(docker: Docker, key: string, tar: () => Promise<string>, engine: string): Promise<string> {
  const ref = `${IMAGE_REPO}:${key}`;
  if (await hasImage(docker, ref)) return ref;
  try {
    const stream = await docker.importImage(createReadStream(await tar()), { repo: ref });
    await new Promise<unknown>((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null, out: unknown) => (err ? reject(err) : resolve(out))));
  } catch (err) {
    throw new EnvironmentError(`engine ${engine}: importing the agent image failed: ${(err as Error).message}`);
  }
  if (!(await hasImage(docker, ref))) throw new EnvironmentError(`engine ${engine}: imported the agent image but cannot find ${ref}`);
  return ref;
}
