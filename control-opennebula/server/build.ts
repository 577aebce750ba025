// The build cache: oned, mm_sched and onemonitord built from the source tarball once by
// scripts/install-opennebula.sh --build (which also installs the Debian packages), into
// <cache root>/opennebula-<sha256 of the tarball>/prefix. A valid cache (BUILD-OK naming the same
// checksum, binaries present) is reused; another tarball gets its own folder and build. With
// installSystemUnder the script also installs the cached build system-wide under a staging root
// (OpenNebula's install.sh without -d, DESTDIR=ROOT: the layout of its packages).
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { EnvironmentError, InputError, type Logger } from '../../common/index.js';

export const DEFAULT_CACHE_ROOT = '/var/cache/edgeplane';
export const SOURCE_NAME = 'opennebula-6.10.5.tar.gz';

/** the repository root (the folder with package.json above this module, in src or dist) */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'scripts'))) return dir;
    dir = dirname(dir);
  }
  throw new EnvironmentError('cannot find the edgeplane repository root (scripts/install-opennebula.sh)');
}

export function installScript(): string {
  return join(repoRoot(), 'scripts', 'install-opennebula.sh');
}

/** --source, else $EDGEPLANE_OPENNEBULA_SOURCE, else ../shared/vendor/ beside the repository */
export function defaultSource(): string {
  return process.env.EDGEPLANE_OPENNEBULA_SOURCE ?? resolve(repoRoot(), '..', 'shared', 'vendor', SOURCE_NAME);
}

export function cacheRoot(): string {
  return process.env.EDGEPLANE_OPENNEBULA_CACHE ?? DEFAULT_CACHE_ROOT;
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export interface BuildCache {
  tarball: string;
  sha256: string;
  dir: string;
  prefix: string;
  /** BUILD-OK's lines (build times, load) */
  record: Record<string, string>;
}

export function readBuildRecord(dir: string): Record<string, string> | null {
  try {
    const out: Record<string, string> = {};
    for (const line of readFileSync(join(dir, 'BUILD-OK'), 'utf8').split('\n')) {
      const m = /^([^=:]+?)\s*[=:]\s*(.*)$/.exec(line.trim());
      if (m) out[m[1]!.trim()] = m[2]!.trim();
    }
    return out;
  } catch {
    return null;
  }
}

export function cacheValid(dir: string, sha: string): boolean {
  const r = readBuildRecord(dir);
  return r?.sha256 === sha && ['bin/oned', 'bin/mm_sched', 'lib/mads/onemonitord'].every((b) => existsSync(join(dir, 'prefix', b)));
}

/** The cache for `tarball`, built first when missing or invalid (~1,000 CPU-seconds); then installed system-wide under `installSystemUnder` when given. */
export async function ensureBuild(tarball: string, o: { log: Logger; onProgress: (m: string) => void; logFile: string; installSystemUnder?: string }): Promise<BuildCache> {
  const file = resolve(tarball);
  if (!existsSync(file)) throw new InputError(`OpenNebula source tarball not found: ${file}`, ['give --source FILE (the 6.10.5 release tarball), or --prefix DIR for an installed OpenNebula']);
  const sha = await sha256File(file);
  const root = cacheRoot();
  const dir = join(root, `opennebula-${sha}`);
  const valid = cacheValid(dir, sha);
  if (!valid) o.onProgress(`building OpenNebula from ${file} into ${dir} (~1,000 CPU-seconds; log ${o.logFile})`);
  mkdirSync(dirname(o.logFile), { recursive: true });
  o.log.info({ tarball: file, sha, dir, valid }, 'build cache');
  try {
    // also when valid: the script checks the runtime packages (a no-op when all are present)
    const system = o.installSystemUnder === undefined ? [] : ['--install-system', resolve(o.installSystemUnder)];
    await execa('sh', [installScript(), '--build', file, '--cache-root', root, ...system], {
      stdout: { file: o.logFile, append: true },
      stderr: { file: o.logFile, append: true },
      env: { EDGEPLANE_OPENNEBULA_CACHE: root },
    });
  } catch (err) {
    const code = (err as { exitCode?: number }).exitCode;
    let tail = '';
    try {
      tail = readFileSync(o.logFile, 'utf8').trim().split('\n').slice(-6).join('\n');
    } catch {
      // no log
    }
    const hint = [tail];
    if (code === 2) throw new InputError(`scripts/install-opennebula.sh rejected ${file}`, hint);
    throw new EnvironmentError(`installing/building OpenNebula failed (exit ${code ?? '?'}); see ${o.logFile}`, hint);
  }
  if (!cacheValid(dir, sha)) throw new EnvironmentError(`the build cache ${dir} is not valid after the build; see ${o.logFile}`);
  return { tarball: file, sha256: sha, dir, prefix: join(dir, 'prefix'), record: readBuildRecord(dir) ?? {} };
}
