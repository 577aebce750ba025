// Writer for the "newc" cpio format the Linux kernel unpacks as an initramfs
// (Documentation/driver-api/early-userspace/buffer-format.rst). Fields are 8 hex digits;
// the header and name, and the data, are each padded to a multiple of 4 bytes.

export type CpioEntry =
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'file'; path: string; data: Uint8Array; mode?: number }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'chardev'; path: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

function header(fields: { ino: number; mode: number; nlink: number; filesize: number; rdevmajor: number; rdevminor: number; namesize: number }): Buffer {
  const values = [fields.ino, fields.mode, 0, 0, fields.nlink, 0, fields.filesize, 0, 0, fields.rdevmajor, fields.rdevminor, fields.namesize, 0];
  return Buffer.from(`070701${values.map((v) => v.toString(16).padStart(8, '0')).join('')}`, 'ascii');
}

function record(ino: number, name: string, mode: number, data: Uint8Array, nlink: number, rdev: [number, number] = [0, 0]): Buffer[] {
  const nameBytes = Buffer.from(`${name}\0`, 'utf8');
  const head = header({ ino, mode, nlink, filesize: data.length, rdevmajor: rdev[0], rdevminor: rdev[1], namesize: nameBytes.length });
  return [head, nameBytes, Buffer.alloc(pad4(head.length + nameBytes.length)), Buffer.from(data), Buffer.alloc(pad4(data.length))];
}

/** A deterministic archive: uid/gid 0, mtime 0, inode numbers in entry order. */
export function buildCpio(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  entries.forEach((e, i) => {
    const ino = i + 1;
    const name = e.path.replace(/^\/+/, '');
    switch (e.type) {
      case 'dir':
        parts.push(...record(ino, name, S_IFDIR | (e.mode ?? 0o755), new Uint8Array(), 2));
        break;
      case 'file':
        parts.push(...record(ino, name, S_IFREG | (e.mode ?? 0o644), e.data, 1));
        break;
      case 'symlink':
        parts.push(...record(ino, name, S_IFLNK | 0o777, Buffer.from(e.target, 'utf8'), 1));
        break;
      case 'chardev':
        parts.push(...record(ino, name, S_IFCHR | (e.mode ?? 0o600), new Uint8Array(), 1, [e.major, e.minor]));
        break;
    }
  });
  parts.push(...record(0, 'TRAILER!!!', 0, new Uint8Array(), 1));
  return Buffer.concat(parts);
}
