// The appliance image: one file that a node boots with direct kernel boot, so chunking and sealing
// work on a single file. Layout (format version 1):
//   [0, 4096)        header: "EDGEPLANE-APPLIANCE\n" + JSON (below) + "\n", zero-filled
//   kernel           at header.kernel.offset (4096-aligned)
//   initramfs        at header.initrd.offset (4096-aligned): gzip'd newc cpio, busybox + /init
//   padding          up to header.size: a deterministic keystream seeded by the image id, so it
//                    does not compress or dedupe away in transfer tests, and versions of one
//                    lineage share their padding chunks
// /init prints the boot marker `EDGEPLANE-BOOT-OK <imageId>@<version>` on the console, then powers
// off or idles.
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { z } from 'zod';
import { EnvironmentError, InputError } from '../common/index.js';
import { buildCpio } from './cpio.js';
import { IMAGE_ID_RE } from './manifest.js';

export const APPLIANCE_MAGIC = 'EDGEPLANE-APPLIANCE\n';
export const APPLIANCE_HEADER_BYTES = 4096;
const ALIGN = 4096;
export const DEFAULT_CMDLINE = 'console=ttyS0 quiet panic=-1';

export type AfterBoot = 'poweroff' | 'idle';

export function bootMarker(image: { imageId: string; version: string }): string {
  return `EDGEPLANE-BOOT-OK ${image.imageId}@${image.version}`;
}

const part = z.strictObject({ offset: z.number().int().nonnegative(), size: z.number().int().positive(), sha256: z.string().regex(/^[0-9a-f]{64}$/) });
export const applianceHeaderSchema = z.strictObject({
  format: z.literal('edgeplane-appliance'),
  formatVersion: z.literal(1),
  imageId: z.string().regex(IMAGE_ID_RE),
  version: z.string().regex(IMAGE_ID_RE),
  marker: z.string(),
  then: z.enum(['poweroff', 'idle']),
  memoryMiB: z.number().int().min(64),
  cmdline: z.string(),
  kernel: part,
  initrd: part,
  size: z.number().int().positive(),
});
export type ApplianceHeader = z.infer<typeof applianceHeaderSchema>;

export interface BuildApplianceOptions {
  outDir: string;
  imageId?: string;
  version?: string;
  /** total file size in bytes (padding added); default: no padding */
  size?: number;
  then?: AfterBoot;
  /** default: the newest /boot/vmlinuz-* */
  kernelPath?: string;
  /** a statically linked busybox; default /bin/busybox */
  busyboxPath?: string;
  memoryMiB?: number;
}

export async function findKernel(bootDir = '/boot'): Promise<string> {
  const names = await readdir(bootDir).catch(() => [] as string[]);
  const kernels = names.filter((n) => n.startsWith('vmlinuz-')).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  if (kernels.length === 0) throw new EnvironmentError(`no kernel in ${bootDir} (vmlinuz-*): install linux-image-amd64`);
  return join(bootDir, kernels[kernels.length - 1]);
}

async function readTool(path: string, what: string, pkg: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new EnvironmentError(`cannot read ${what} ${path}: ${(err as Error).message} (install ${pkg})`);
  }
}

export function initScript(image: { imageId: string; version: string }, then: AfterBoot): string {
  const after = then === 'poweroff' ? '/bin/busybox poweroff -f' : 'while :; do /bin/busybox sleep 3600; done';
  return ['#!/bin/busybox sh', '/bin/busybox mount -t proc proc /proc', '/bin/busybox mount -t sysfs sysfs /sys', `echo "${bootMarker(image)}"`, after, ''].join('\n');
}

export function buildInitramfs(busybox: Uint8Array, image: { imageId: string; version: string }, then: AfterBoot): Buffer {
  const cpio = buildCpio([
    { type: 'dir', path: 'bin' },
    { type: 'dir', path: 'dev' },
    { type: 'dir', path: 'proc' },
    { type: 'dir', path: 'sys' },
    { type: 'dir', path: 'tmp', mode: 0o1777 },
    // the kernel opens /dev/console for init's stdio before any devtmpfs is mounted
    { type: 'chardev', path: 'dev/console', major: 5, minor: 1 },
    { type: 'file', path: 'bin/busybox', data: busybox, mode: 0o755 },
    { type: 'symlink', path: 'bin/sh', target: 'busybox' },
    { type: 'file', path: 'init', data: Buffer.from(initScript(image, then)), mode: 0o755 },
  ]);
  return gzipSync(cpio, { level: 9 });
}

const alignUp = (n: number) => Math.ceil(n / ALIGN) * ALIGN;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function encodeHeader(h: ApplianceHeader): Buffer {
  const text = Buffer.from(`${APPLIANCE_MAGIC}${JSON.stringify(h)}\n`, 'utf8');
  if (text.length > APPLIANCE_HEADER_BYTES) throw new InputError('appliance header too large (image id or version too long)');
  const out = Buffer.alloc(APPLIANCE_HEADER_BYTES);
  text.copy(out);
  return out;
}

/** Builds `<outDir>/<imageId>-<version>.img`. Deterministic for the same inputs. */
export async function buildAppliance(opts: BuildApplianceOptions): Promise<{ path: string; header: ApplianceHeader }> {
  const imageId = opts.imageId ?? 'appliance';
  const version = opts.version ?? '1';
  for (const [what, v] of [
    ['image id', imageId],
    ['version', version],
  ] as const) {
    if (!IMAGE_ID_RE.test(v)) throw new InputError(`invalid ${what} "${v}": use letters, digits, ".", "_" and "-"`);
  }
  const then = opts.then ?? 'idle';
  const kernel = await readTool(opts.kernelPath ?? (await findKernel()), 'kernel', 'linux-image-amd64');
  const busybox = await readTool(opts.busyboxPath ?? '/bin/busybox', 'busybox', 'busybox-static');
  if (busybox.subarray(0, 4096).includes('ld-linux')) throw new EnvironmentError('busybox is dynamically linked; install busybox-static');
  const initrd = buildInitramfs(busybox, { imageId, version }, then);

  const kernelOffset = APPLIANCE_HEADER_BYTES;
  const initrdOffset = alignUp(kernelOffset + kernel.length);
  const minimal = alignUp(initrdOffset + initrd.length);
  const size = opts.size ?? minimal;
  if (!Number.isInteger(size) || size < minimal) throw new InputError(`--size ${size} is too small: this appliance needs at least ${minimal} bytes (${(minimal / 2 ** 20).toFixed(1)} MiB)`);
  const header: ApplianceHeader = {
    format: 'edgeplane-appliance',
    formatVersion: 1,
    imageId,
    version,
    marker: bootMarker({ imageId, version }),
    then,
    memoryMiB: opts.memoryMiB ?? 256,
    cmdline: DEFAULT_CMDLINE,
    kernel: { offset: kernelOffset, size: kernel.length, sha256: sha256(kernel) },
    initrd: { offset: initrdOffset, size: initrd.length, sha256: sha256(initrd) },
    size,
  };

  await mkdir(opts.outDir, { recursive: true });
  const path = join(opts.outDir, `${imageId}-${version}.img`);
  const fh = await open(path, 'w');
  try {
    await fh.write(encodeHeader(header), 0, APPLIANCE_HEADER_BYTES, 0);
    await fh.write(kernel, 0, kernel.length, kernelOffset);
    await fh.write(initrd, 0, initrd.length, initrdOffset);
    await writePadding(fh, minimal, size, imageId);
    await fh.truncate(size);
  } finally {
    await fh.close();
  }
  return { path, header };
}

/**
 * A payload image for runs whose hypervisor boots nothing (the sim hypervisor): `size` bytes of the
 * appliance's padding keystream, so no kernel or busybox is needed on the machine. Deterministic.
 */
export async function buildPayloadImage(opts: { outDir: string; imageId: string; version: string; size: number }): Promise<{ path: string; size: number }> {
  for (const [what, v] of [
    ['image id', opts.imageId],
    ['version', opts.version],
  ] as const) {
    if (!IMAGE_ID_RE.test(v)) throw new InputError(`invalid ${what} "${v}": use letters, digits, ".", "_" and "-"`);
  }
  if (!Number.isInteger(opts.size) || opts.size <= 0) throw new InputError(`payload size ${opts.size} must be a whole number of bytes > 0`);
  await mkdir(opts.outDir, { recursive: true });
  const path = join(opts.outDir, `${opts.imageId}-${opts.version}.img`);
  const fh = await open(path, 'w');
  try {
    await writePadding(fh, 0, opts.size, opts.imageId);
    await fh.truncate(opts.size);
  } finally {
    await fh.close();
  }
  return { path, size: opts.size };
}

async function writePadding(fh: Awaited<ReturnType<typeof open>>, from: number, to: number, imageId: string): Promise<void> {
  // AES-256-CTR keystream keyed by the image id; the offset selects the counter so any range is reproducible
  const key = createHash('sha256').update(`edgeplane-padding-v1\0${imageId}`).digest();
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(Math.floor(from / 16), 12);
  const stream = createCipheriv('aes-256-ctr', key, iv);
  const zeros = Buffer.alloc(1 << 20);
  for (let pos = from; pos < to; pos += zeros.length) {
    const n = Math.min(zeros.length, to - pos);
    const bytes = stream.update(zeros.subarray(0, n));
    await fh.write(bytes, 0, bytes.length, pos);
  }
}

export async function readApplianceHeader(imagePath: string): Promise<ApplianceHeader> {
  const fh = await open(imagePath, 'r');
  try {
    const buf = Buffer.alloc(APPLIANCE_HEADER_BYTES);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const text = buf.subarray(0, bytesRead).toString('utf8');
    if (!text.startsWith(APPLIANCE_MAGIC)) throw new InputError(`${imagePath} is not an edgeplane appliance image (bad magic)`);
    const json = text.slice(APPLIANCE_MAGIC.length, text.indexOf('\n', APPLIANCE_MAGIC.length));
    let raw: unknown;
    try {
      raw = JSON.parse(json);
    } catch {
      throw new InputError(`${imagePath}: appliance header is not valid JSON`);
    }
    const parsed = applianceHeaderSchema.safeParse(raw);
    if (!parsed.success) throw new InputError(`${imagePath}: invalid appliance header: ${z.prettifyError(parsed.error)}`);
    return parsed.data;
  } finally {
    await fh.close();
  }
}

/** Copies the kernel and initramfs out of an appliance image into `dir`, checking their digests. */
export async function extractBootFiles(imagePath: string, dir: string): Promise<{ header: ApplianceHeader; kernelPath: string; initrdPath: string }> {
  const header = await readApplianceHeader(imagePath);
  await mkdir(dir, { recursive: true });
  const kernelPath = join(dir, 'vmlinuz');
  const initrdPath = join(dir, 'initrd.gz');
  for (const [p, out, what] of [
    [header.kernel, kernelPath, 'kernel'],
    [header.initrd, initrdPath, 'initramfs'],
  ] as const) {
    const hash = createHash('sha256');
    await pipeline(
      createReadStream(imagePath, { start: p.offset, end: p.offset + p.size - 1 }),
      async function* (source: AsyncIterable<Buffer>) {
        for await (const b of source) {
          hash.update(b);
          yield b;
        }
      },
      createWriteStream(out),
    );
    if (hash.digest('hex') !== p.sha256) throw new InputError(`${imagePath}: ${what} digest does not match the appliance header (corrupt image)`);
  }
  return { header, kernelPath, initrdPath };
}
