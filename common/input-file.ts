// Reading files the user hands to edgeplane (scenarios, results, calibration, agent configuration,
// keys): only regular files, only up to a documented size, so that a FIFO, a device, a directory or
// a huge file is refused at once (exit 2) instead of blocking, or reading without end.
import { constants, type Stats } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { InputError } from './errors.js';

export interface InputFileOptions {
  /** what the file is, for messages: "scenario", "results file", "data key" */
  what: string;
  /** the largest size accepted, in bytes */
  maxBytes: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** Documented limits of the files edgeplane reads (README, "Limits"). */
export const INPUT_LIMITS = {
  scenario: 1 * MiB,
  results: 2 * GiB,
  calibration: 1 * MiB,
  agentConfig: 1 * MiB,
  key: 64 * KiB,
} as const;

/** 1048576 → "1 MiB" */
export function formatLimit(bytes: number): string {
  for (const [scale, unit] of [
    [GiB, 'GiB'],
    [MiB, 'MiB'],
    [KiB, 'KiB'],
  ] as const) {
    if (bytes >= scale && bytes % scale === 0) return `${bytes / scale} ${unit}`;
  }
  return `${bytes} bytes`;
}

function kindOf(s: Stats): string {
  if (s.isDirectory()) return 'a directory';
  if (s.isFIFO()) return 'a FIFO (named pipe)';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  if (s.isSocket()) return 'a socket';
  return 'not a regular file';
}

export type InputFileProblem = 'missing' | 'not-regular' | 'too-large' | 'unreadable';

/** A user-supplied file that cannot be used; `problem` lets a caller word the common cases itself. */
export class InputFileError extends InputError {
  constructor(
    message: string,
    readonly problem: InputFileProblem,
  ) {
    super(message);
  }
}

/** Throws InputFileError unless `s` is a regular file of at most maxBytes. */
function check(path: string, s: Stats, opts: InputFileOptions): void {
  if (!s.isFile()) throw new InputFileError(`${opts.what} ${path} is ${kindOf(s)}; expected a regular file`, 'not-regular');
  if (s.size > opts.maxBytes) {
    throw new InputFileError(`${opts.what} ${path} is too large: ${s.size.toLocaleString('en-US')} bytes; the limit is ${formatLimit(opts.maxBytes)}`, 'too-large');
  }
}

function osError(path: string, opts: InputFileOptions, err: unknown): InputError {
  const e = err as NodeJS.ErrnoException;
  if (e instanceof InputError) return e;
  if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return new InputFileError(`cannot read ${opts.what} ${path}: no such file`, 'missing');
  const why = e.code === 'EACCES' || e.code === 'EPERM' ? 'permission denied' : e.code === 'ELOOP' ? 'too many symbolic links' : (e.code ?? e.message);
  return new InputFileError(`cannot read ${opts.what} ${path}: ${why}`, 'unreadable');
}

// O_NONBLOCK: if a FIFO replaces the file between the stat and the open, open does not block.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

function tooLarge(path: string, opts: InputFileOptions): InputError {
  return new InputFileError(`${opts.what} ${path} is too large: more than ${formatLimit(opts.maxBytes)} (the limit)`, 'too-large');
}

/**
 * Opens a user-supplied file for reading after checking it is a regular file of at most maxBytes
 * (stat follows symlinks; the open descriptor is checked again). Returns the handle and its size.
 */
export async function openInputFile(path: string, opts: InputFileOptions): Promise<{ handle: FileHandle; size: number }> {
  let handle: FileHandle | undefined;
  try {
    check(path, await stat(path), opts);
    handle = await open(path, OPEN_FLAGS);
    const s = await handle.stat();
    check(path, s, opts);
    return { handle, size: s.size };
  } catch (err) {
    await handle?.close().catch(() => undefined);
    throw osError(path, opts, err);
  }
}

/** Reads a user-supplied regular file of at most maxBytes (InputError, exit 2, for anything else). */
export async function readInputFile(path: string, opts: InputFileOptions): Promise<Buffer> {
  const { handle, size } = await openInputFile(path, opts);
  try {
    // read at most maxBytes + 1: a file that grew past the limit since the stat still stops here
    const buf = Buffer.allocUnsafe(Math.min(size, opts.maxBytes) + 1);
    let filled = 0;
    while (filled < buf.length) {
      const { bytesRead } = await handle.read(buf, filled, buf.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    if (filled > opts.maxBytes) throw tooLarge(path, opts);
    return buf.subarray(0, filled);
  } catch (err) {
    throw osError(path, opts, err);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** readInputFile, decoded as UTF-8. */
export async function readInputText(path: string, opts: InputFileOptions): Promise<string> {
  return (await readInputFile(path, opts)).toString('utf8');
}
