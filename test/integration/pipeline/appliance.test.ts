// Appliance build and the cpio writer, checked with the real busybox (busybox-static: the image
// embeds /bin/busybox and the archives are listed with `busybox cpio`). Fails, never skips, when
// busybox is missing: scripts/install-test-deps.sh installs it. The unit part (no system
// packages) is test/unit/pipeline/appliance.test.ts.
import { execFileSync } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { existsSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { APPLIANCE_HEADER_BYTES, bootMarker, buildAppliance, buildCpio, extractBootFiles, readApplianceHeader } from '../../../pipeline/index.js';
import { InputError } from '../../../common/index.js';
import { bytes, tempDir, writeTemp } from '../../unit/pipeline/helpers.js';

beforeAll(() => {
  expect(existsSync('/bin/busybox'), 'busybox not found at /bin/busybox: apt-get install busybox-static (scripts/install-test-deps.sh)').toBe(true);
});

// A fake 1 MiB "kernel" keeps these tests fast; the real boot is in test/integration/agent/hypervisor.
async function fakeKernel(): Promise<string> {
  return writeTemp(await tempDir(), 'vmlinuz', bytes(1024 * 1024, 'kernel'));
}

function listCpio(archive: Buffer): string[] {
  return execFileSync('busybox', ['cpio', '-t'], { input: archive, stdio: ['pipe', 'pipe', 'ignore'] })
    .toString()
    .trim()
    .split('\n');
}

describe('newc cpio writer', () => {
  it('writes an archive busybox cpio can list and extract', async () => {
    const archive = buildCpio([
      { type: 'dir', path: 'bin' },
      { type: 'file', path: 'bin/hello', data: Buffer.from('hi\n'), mode: 0o755 },
      { type: 'symlink', path: 'bin/sh', target: 'hello' },
    ]);
    expect(archive.length % 4).toBe(0);
    expect(listCpio(archive)).toEqual(['bin', 'bin/hello', 'bin/sh']);
    const dir = await tempDir();
    execFileSync('busybox', ['cpio', '-i', '-d'], { input: archive, cwd: dir, stdio: ['pipe', 'pipe', 'ignore'] });
    expect(await readFile(join(dir, 'bin/hello'), 'utf8')).toBe('hi\n');
    expect(((await stat(join(dir, 'bin/hello'))).mode & 0o777).toString(8)).toBe('755');
  });
});

describe('appliance image', () => {
  it('holds kernel, an initramfs whose /init prints the marker, and padding to --size', async () => {
    const kernelPath = await fakeKernel();
    const { path, header } = await buildAppliance({ outDir: await tempDir(), imageId: 'web', version: '2.1', size: 4 * 1024 * 1024, then: 'poweroff', kernelPath });
    expect((await stat(path)).size).toBe(4 * 1024 * 1024);
    expect(header.marker).toBe('EDGEPLANE-BOOT-OK web@2.1');
    expect(await readApplianceHeader(path)).toEqual(header);

    const { kernelPath: k, initrdPath } = await extractBootFiles(path, await tempDir());
    expect((await readFile(k)).equals(await readFile(kernelPath))).toBe(true);
    const cpio = gunzipSync(await readFile(initrdPath));
    expect(listCpio(cpio)).toEqual(expect.arrayContaining(['init', 'bin/busybox', 'dev/console']));
    const dir = await tempDir();
    execFileSync('busybox', ['cpio', '-i', '-d', 'init'], { input: cpio, cwd: dir, stdio: ['pipe', 'pipe', 'ignore'] });
    const init = await readFile(join(dir, 'init'), 'utf8');
    expect(init).toContain(`echo "${bootMarker({ imageId: 'web', version: '2.1' })}"`);
    expect(init).toContain('poweroff -f');

    // padding is not zeros (so it does not compress or dedupe away)
    const img = await readFile(path);
    const tail = img.subarray(img.length - 65536);
    expect(tail.some((b) => b !== 0)).toBe(true);
    expect(img.subarray(0, 20).toString()).toBe('EDGEPLANE-APPLIANCE\n');
    expect(header.kernel.offset).toBe(APPLIANCE_HEADER_BYTES);
  });

  it('is deterministic, and versions of one image share their padding', async () => {
    const kernelPath = await fakeKernel();
    const out = await tempDir();
    const a = await buildAppliance({ outDir: out, version: '1', size: 5 * 1024 * 1024, kernelPath });
    const again = await buildAppliance({ outDir: await tempDir(), version: '1', size: 5 * 1024 * 1024, kernelPath });
    const b = await buildAppliance({ outDir: out, version: '2', size: 5 * 1024 * 1024, kernelPath });
    const [ia, iagain, ib] = await Promise.all([a.path, again.path, b.path].map((p) => readFile(p)));
    expect(ia.equals(iagain)).toBe(true);
    expect(ia.equals(ib)).toBe(false);
    expect(ia.subarray(4 * 1024 * 1024).equals(ib.subarray(4 * 1024 * 1024))).toBe(true);
  });

  it('refuses a size smaller than its contents and bad names', async () => {
    const kernelPath = await fakeKernel();
    await expect(buildAppliance({ outDir: await tempDir(), size: 1024 * 1024, kernelPath })).rejects.toThrow(/too small/);
    await expect(buildAppliance({ outDir: await tempDir(), imageId: '../x', kernelPath })).rejects.toThrow(InputError);
  });

  it('detects a corrupted kernel when extracting boot files', async () => {
    const { path, header } = await buildAppliance({ outDir: await tempDir(), kernelPath: await fakeKernel() });
    const img = await readFile(path);
    img[header.kernel.offset + 10] ^= 1;
    const { writeFile } = await import('node:fs/promises');
    await writeFile(path, img);
    await expect(extractBootFiles(path, await tempDir())).rejects.toThrow(/kernel digest/);
  });
});
