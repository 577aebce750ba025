// Plaintext written past the page cache (O_DIRECT), where the file system takes it.
//
// Why: every page-cache page the staged image fills is a fresh page of memory. On a VM whose free
// memory the host takes back (this machine: DAMON `pageout` and free-page reporting), each fresh
// page is a host fault, and 256 MiB written buffered took 1.7-1.9 s where O_DIRECT took
// 0.17-0.23 s (dd, same disk, same minute). On bare metal it still saves a copy and the writeback.
// O_DIRECT needs the file offset, the length and the memory aligned to the device's block; Node
// cannot tell a buffer's address, so `probe` finds an aligned place by trying a 4 KiB write of it.
import { closeSync, constants, openSync, unlinkSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** file offsets and lengths of direct writes are multiples of this (the largest logical block in use) */
export const DIRECT_BLOCK = 4096;

let probes = 0;

export class DirectWriter {
  private constructor(
    private readonly fh: FileHandle,
    private readonly probeFd: number,
  ) {}

  /** A direct descriptor of `path` (which exists), or null where the platform or file system has no O_DIRECT. */
  static async open(path: string): Promise<DirectWriter | null> {
    const flag = constants.O_DIRECT;
    if (flag === undefined) return null;
    let probeFd = -1;
    try {
      // the probe file lives beside `path` (same file system, same alignment rules) and has no name once open
      const probePath = join(dirname(path), `.direct-probe-${process.pid}-${probes++}`);
      probeFd = openSync(probePath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | flag, 0o600);
      unlinkSync(probePath);
      return new DirectWriter(await open(path, constants.O_WRONLY | flag), probeFd);
    } catch {
      if (probeFd >= 0) closeSync(probeFd);
      return null;
    }
  }

  /** Whether a direct write can take its bytes from `view`'s memory (a 4 KiB write of it into the probe file). */
  readonly probe = (view: Buffer): boolean => {
    try {
      return writeSync(this.probeFd, view, 0, DIRECT_BLOCK, 0) === DIRECT_BLOCK;
    } catch {
      return false;
    }
  };

  /**
   * Writes `buf` at `pos`: its whole blocks directly when `pos` is block-aligned and `buf`'s memory
   * passed the probe, the rest through `buffered` (another descriptor of the same file).
   */
  async write(buffered: FileHandle, buf: Buffer, pos: number, aligned: boolean): Promise<void> {
    const whole = aligned && pos % DIRECT_BLOCK === 0 ? buf.length - (buf.length % DIRECT_BLOCK) : 0;
    if (whole > 0) await writeAll(this.fh, buf, 0, whole, pos);
    if (whole < buf.length) await writeAll(buffered, buf, whole, buf.length - whole, pos + whole);
  }

  async close(): Promise<void> {
    closeSync(this.probeFd);
    await this.fh.close();
  }
}

/** A write that goes on after a short count (a file system may write less than asked). */
async function writeAll(fh: FileHandle, buf: Buffer, offset: number, length: number, pos: number): Promise<void> {
  while (length > 0) {
    const { bytesWritten } = await fh.write(buf, offset, length, pos);
    if (bytesWritten <= 0) throw new Error(`short write at ${pos}`);
    offset += bytesWritten;
    length -= bytesWritten;
    pos += bytesWritten;
  }
}
