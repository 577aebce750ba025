// One way to open an output location, for every command.
//
// - safeFolderName(name): a name from input (a scenario's `name`) as one safe path component.
// - openOutput(dir, { what, owns }): checks the location at once (no /proc, /sys, /dev or anything
//   under them, no existing non-directory, no NUL), then gives a staging folder next to it (same
//   file system). The command writes there; commit() moves it into place only when complete,
//   abort() keeps what was written as `<dir>.partial-<pid>` and returns that path.
// - writeOutputFile(path, text, { what }): the same for one file (a temp file, then a rename).
// - outputError(err, path, what): an OS error as an EdgeplaneError naming the path.
//
// Exit codes of OS errors on an output path: 2 (the path cannot be an output location: EACCES,
// EPERM, EROFS, ENOTDIR, EEXIST, EISDIR, ENAMETOOLONG, ELOOP, ENOENT, EINVAL, EXDEV), 3 (the
// machine is short of something: ENOSPC, EDQUOT, EIO, EMFILE, ENFILE, ENOMEM, EBUSY and any other).
import { createHash } from 'node:crypto';
import { closeSync, lstatSync, mkdirSync, openSync, readdirSync, realpathSync, renameSync, rmSync, type Stats, statfsSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { EdgeplaneError, EnvironmentError, EXIT, InputError } from './errors.js';

/** Longest folder name safeFolderName returns, in UTF-8 bytes (file systems allow 255). */
export const MAX_FOLDER_NAME_BYTES = 100;

/**
 * A name from input as one safe, readable path component: letters (any script), digits, `.`, `_`
 * and `-` are kept, every other run of characters (`/`, `\`, spaces, control characters, NUL…)
 * becomes one `-`; leading dots and dashes are dropped (no `..`, no hidden folders); longer than
 * MAX_FOLDER_NAME_BYTES it is cut and gets an 8-character hash of the whole name, so two long
 * names stay apart. The same name always gives the same folder; an empty result gives `fallback`.
 */
export function safeFolderName(name: string, fallback = 'scenario'): string {
  let s = String(name)
    .normalize('NFC')
    .replace(/[^\p{L}\p{N}._-]+/gu, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[.-]+/, '')
    .replace(/[.-]+$/, '');
  if (s === '') return fallback;
  if (Buffer.byteLength(s) > MAX_FOLDER_NAME_BYTES) {
    const hash = createHash('sha256').update(String(name)).digest('hex').slice(0, 8);
    s = `${cutBytes(s, MAX_FOLDER_NAME_BYTES - hash.length - 1).replace(/[.-]+$/, '')}-${hash}`;
  }
  return s;
}

/** The longest prefix of s (whole code points) of at most max UTF-8 bytes. */
function cutBytes(s: string, max: number): string {
  let out = '';
  let bytes = 0;
  for (const ch of s) {
    const b = Buffer.byteLength(ch);
    if (bytes + b > max) break;
    out += ch;
    bytes += b;
  }
  return out;
}

const REFUSED_ROOTS = ['/proc', '/sys', '/dev'];
// statfs magic numbers of pseudo file systems, wherever they are mounted
const PSEUDO_FS: Record<number, string> = {
  40864: 'proc',
  1650812274: 'sysfs',
  2613483: 'cgroup',
  1667723888: 'cgroup2',
  1684170528: 'debugfs',
  1953653091: 'tracefs',
  1935894131: 'securityfs',
  7377: 'devpts',
  3405662737: 'bpf',
};

const EXPLAIN: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOTDIR: 'a part of the path is not a directory',
  EEXIST: 'already exists',
  EISDIR: 'is a directory',
  ENAMETOOLONG: 'name too long',
  ELOOP: 'too many levels of symbolic links',
  ENOENT: 'no such file or directory',
  EINVAL: 'invalid path',
  EXDEV: 'not on the same file system',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EIO: 'input/output error',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  ENOMEM: 'out of memory',
  EBUSY: 'device or resource busy',
};
const INPUT_CODES = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EEXIST', 'EISDIR', 'ENAMETOOLONG', 'ELOOP', 'ENOENT', 'EINVAL', 'EXDEV']);

/** An OS error on an output path as an error the CLI prints: the path, what went wrong, the code; exit 2 or 3 (above). */
export function outputError(err: unknown, path: string, what: string): EdgeplaneError {
  if (err instanceof EdgeplaneError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  if (typeof code !== 'string') return new EnvironmentError(`cannot write ${what} ${path}: ${(err as Error)?.message ?? String(err)}`);
  const message = `cannot write ${what} ${path}: ${EXPLAIN[code] ?? (err as Error).message} (${code})`;
  return INPUT_CODES.has(code) ? new InputError(message) : new EnvironmentError(message);
}

/** outputError for OS errors (they carry a code); anything else (an EdgeplaneError, a bug) unchanged. */
export function asOutputError(err: unknown, path: string, what: string): unknown {
  return typeof (err as NodeJS.ErrnoException)?.code === 'string' && !(err instanceof EdgeplaneError) ? outputError(err, path, what) : err;
}

/** The exit code outputError gives an OS error code. */
export function outputExitCode(code: string): number {
  return INPUT_CODES.has(code) ? EXIT.INVALID_INPUT : EXIT.ENVIRONMENT;
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function under(path: string, root: string): boolean {
  return path === root || path.startsWith(`${root}/`);
}

/** Refuses NUL, /proc, /sys, /dev (also through symbolic links or pseudo file systems mounted elsewhere). Returns the resolved path. */
function checkPath(path: string, what: string): string {
  if (typeof path !== 'string' || path === '') throw new InputError(`${what}: the path is empty`);
  if (path.includes('\0')) throw new InputError(`${what} ${JSON.stringify(path)}: the path contains a NUL byte`);
  const abs = resolve(path);
  const refuse = (p: string) => {
    const root = REFUSED_ROOTS.find((r) => under(p, r));
    if (root) throw new InputError(`${what} ${abs}: refusing to write under ${root} (a system pseudo file system or devices); choose a folder on disk`);
  };
  refuse(abs);
  for (const part of abs.split(sep)) {
    if (Buffer.byteLength(part) > 255) throw new InputError(`cannot write ${what} ${abs}: name too long (a path component over 255 bytes) (ENAMETOOLONG)`);
  }
  // the nearest existing ancestor (or the path itself): its real location, its file system
  let existing = abs;
  while (lstatOrNullSafe(existing, what) === null && existing !== dirname(existing)) existing = dirname(existing);
  let real: string;
  try {
    real = realpathSync(existing);
  } catch (err) {
    throw outputError(err, abs, what);
  }
  refuse(real);
  try {
    const type = Number(statfsSync(real).type);
    if (PSEUDO_FS[type]) throw new InputError(`${what} ${abs}: refusing to write to a ${PSEUDO_FS[type]} file system; choose a folder on disk`);
  } catch (err) {
    if (err instanceof EdgeplaneError) throw err;
  }
  return abs;
}

function lstatOrNullSafe(path: string, what: string): Stats | null {
  try {
    return lstatOrNull(path);
  } catch (err) {
    throw outputError(err, path, what);
  }
}

/** Creates dir's missing folders one at a time (never a recursive mkdir into unknown places). */
function makeFolders(dir: string, what: string): void {
  const missing: string[] = [];
  let p = dir;
  for (;;) {
    const st = lstatOrNullSafe(p, what);
    if (st) {
      let target: Stats;
      try {
        target = st.isSymbolicLink() ? statSync(p) : st;
      } catch (err) {
        throw outputError(err, p, what);
      }
      if (!target.isDirectory()) throw new InputError(`cannot write ${what} ${dir}: ${p} exists and is not a directory`);
      break;
    }
    if (p === dirname(p)) break;
    missing.unshift(p);
    p = dirname(p);
  }
  for (const m of missing) {
    try {
      mkdirSync(m);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw outputError(err, m, what);
    }
  }
}

function unique(): string {
  return `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

export interface OutputOptions {
  /** what the location is, for messages: "output folder", "report folder" */
  what: string;
  /**
   * The entries the command writes at the top of the folder, with their kind. An existing folder
   * holding only these (or nothing) is replaced as a whole on commit; one that holds other files
   * too (the current directory, a folder with the results a report reads) keeps them, and only
   * these entries are replaced. An entry of the wrong kind there (a directory where a file goes)
   * is refused at once.
   */
  owns?: Record<string, 'file' | 'dir'>;
}

export interface StagedOutput {
  /** where the output ends up (absolute) */
  readonly dir: string;
  /** the folder to write into until commit(): a hidden sibling of dir, `.<name>.edgeplane-staging-<pid>-<random>` */
  readonly staging: string;
  /** a path inside the staging folder */
  path(...parts: string[]): string;
  /** the final path of a path inside the staging folder */
  final(stagingPath: string): string;
  /** moves the complete output into place; returns dir */
  commit(): string;
  /** keeps what was written as `<dir>.partial-<pid>` and returns that path (null when nothing was written) */
  abort(): string | null;
  /** removes the staging folder (a failure before anything was written) */
  discard(): void;
}

/** Checks an output folder at once and opens a staging folder for it (above). */
export function openOutput(dir: string, o: OutputOptions): StagedOutput {
  const what = o.what;
  let abs = checkPath(dir, what);
  if (abs === dirname(abs)) throw new InputError(`${what} ${abs}: refusing to write into the file system root`);
  const st = lstatOrNullSafe(abs, what);
  if (st?.isSymbolicLink()) {
    // write to where the link points (the link stays)
    try {
      abs = checkPath(realpathSync(abs), what);
    } catch (err) {
      throw outputError(err, abs, what);
    }
  }
  const target = st ? safeStat(abs, what) : null;
  if (target && !target.isDirectory()) throw new InputError(`${what} ${abs} exists and is not a directory`);
  const owns = o.owns ?? {};
  let merge = false;
  if (target) {
    let entries: string[];
    try {
      entries = readdirSync(abs);
    } catch (err) {
      throw outputError(err, abs, what);
    }
    for (const e of entries) {
      const kind = owns[e];
      if (kind === undefined) {
        merge = true;
        continue;
      }
      const es = safeStat(join(abs, e), what);
      if (kind === 'file' && !es.isFile())
        throw new InputError(`${what} ${abs}: ${join(abs, e)} is ${es.isDirectory() ? 'a directory' : 'not a regular file'}; edgeplane writes a file there (remove it or choose another folder)`);
      if (kind === 'dir' && !es.isDirectory()) throw new InputError(`${what} ${abs}: ${join(abs, e)} is not a directory; edgeplane writes a folder there (remove it or choose another folder)`);
    }
    // never move the folder the process works in (or one above it)
    if (under(process.cwd(), abs)) merge = true;
  }
  const parent = dirname(abs);
  makeFolders(parent, what);
  const staging = join(parent, `.${cutBytes(basename(abs), 180)}.edgeplane-staging-${unique()}`);
  try {
    mkdirSync(staging);
  } catch (err) {
    throw outputError(err, abs, what);
  }
  let done = false;
  const out: StagedOutput = {
    dir: abs,
    staging,
    path: (...parts) => join(staging, ...parts),
    final: (p) => (under(p, staging) ? abs + p.slice(staging.length) : p),
    commit() {
      if (done) return abs;
      try {
        commitFolder(staging, abs, merge);
      } catch (err) {
        throw outputError(err, abs, what);
      }
      done = true;
      return abs;
    },
    abort() {
      if (done) return null;
      done = true;
      let names: string[] = [];
      try {
        names = readdirSync(staging);
      } catch {
        return null;
      }
      if (names.length === 0) {
        rmSync(staging, { recursive: true, force: true });
        return null;
      }
      const base = `${cutBytes(basename(abs), 200)}.partial-${process.pid}`;
      let kept = join(parent, base);
      for (let n = 1; lstatOrNull(kept) !== null; n++) kept = join(parent, `${base}-${n}`);
      try {
        renameSync(staging, kept);
        return kept;
      } catch {
        return staging;
      }
    },
    discard() {
      if (done) return;
      done = true;
      rmSync(staging, { recursive: true, force: true });
    },
  };
  return out;
}

function safeStat(path: string, what: string): Stats {
  try {
    return statSync(path);
  } catch (err) {
    throw outputError(err, path, what);
  }
}

/** Moves staging into place: a whole-folder swap, or entry by entry into a folder that keeps other files. */
function commitFolder(staging: string, dir: string, merge: boolean): void {
  const parent = dirname(dir);
  const exists = lstatOrNull(dir) !== null;
  if (!exists) {
    renameSync(staging, dir);
    return;
  }
  const aside = join(parent, `.edgeplane-old-${unique()}`);
  if (!merge) {
    try {
      renameSync(dir, aside);
    } catch (err) {
      // a mount point (or a folder that cannot move): replace its entries instead
      if (!['EBUSY', 'EXDEV', 'EPERM', 'EACCES'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
      commitFolder(staging, dir, true);
      return;
    }
    try {
      renameSync(staging, dir);
    } catch (err) {
      renameSync(aside, dir);
      throw err;
    }
    rmSync(aside, { recursive: true, force: true });
    return;
  }
  mkdirSync(aside);
  try {
    for (const e of readdirSync(staging)) {
      const to = join(dir, e);
      if (lstatOrNull(to) !== null) renameSync(to, join(aside, e));
      renameSync(join(staging, e), to);
    }
  } finally {
    rmSync(aside, { recursive: true, force: true });
  }
  rmSync(staging, { recursive: true, force: true });
}

/** The checks of writeOutputFile without writing (run them before the work): returns where the file will be written. */
export function checkOutputFile(path: string, o: { what: string }): string {
  const what = o.what;
  const abs = checkPath(path, what);
  const st = lstatOrNullSafe(abs, what);
  if (st) {
    const t = safeStat(abs, what);
    if (!t.isFile()) throw new InputError(`${what} ${abs} exists and is ${t.isDirectory() ? 'a directory' : 'not a regular file'}`);
  }
  let real = abs;
  if (st?.isSymbolicLink()) {
    try {
      real = checkPath(realpathSync(abs), what);
    } catch (err) {
      throw outputError(err, abs, what);
    }
  }
  if (abs === dirname(abs)) throw new InputError(`${what} ${abs}: not a file name`);
  // the nearest existing folder above it must be a folder
  let p = dirname(real);
  for (let s2 = lstatOrNullSafe(p, what); s2 === null && p !== dirname(p); s2 = lstatOrNullSafe(p, what)) p = dirname(p);
  if (!safeStat(p, what).isDirectory()) throw new InputError(`cannot write ${what} ${abs}: ${p} exists and is not a directory`);
  return real;
}

/** Writes one output file: the same checks as openOutput, a temp file next to it, then a rename. Returns the absolute path. */
export function writeOutputFile(path: string, data: string | Uint8Array, o: { what: string }): string {
  const what = o.what;
  const real = checkOutputFile(path, o);
  makeFolders(dirname(real), what);
  const tmp = join(dirname(real), `.${cutBytes(basename(real), 180)}.tmp-${unique()}`);
  try {
    writeFileSync(tmp, data, { flag: 'wx' });
    renameSync(tmp, real);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw outputError(err, resolve(path), what);
  }
  return resolve(path);
}

/** NDJSON lines appended to a file in batches (synchronous writes: nothing to await, nothing lost on exit). */
export interface LineWriter {
  readonly path: string;
  /** lines written so far */
  readonly lines: number;
  line(text: string): void;
  /** writes what is buffered and closes the file (idempotent) */
  close(): void;
}

export function createLineWriter(path: string, o: { what: string; batchBytes?: number }): LineWriter {
  const limit = o.batchBytes ?? 1 << 20;
  let fd: number | null;
  try {
    fd = openSync(path, 'wx');
  } catch (err) {
    throw outputError(err, path, o.what);
  }
  let parts: string[] = [];
  let size = 0;
  let count = 0;
  const flush = () => {
    if (parts.length === 0 || fd === null) return;
    const buf = Buffer.from(parts.join(''));
    parts = [];
    size = 0;
    try {
      for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
    } catch (err) {
      throw outputError(err, path, o.what);
    }
  };
  return {
    path,
    get lines() {
      return count;
    },
    line(text) {
      if (fd === null) throw new Error(`${path}: written after close`);
      parts.push(text, '\n');
      size += text.length + 1;
      count++;
      if (size >= limit) flush();
    },
    close() {
      if (fd === null) return;
      try {
        flush();
      } finally {
        closeSync(fd);
        fd = null;
      }
    },
  };
}
