// A real boot under qemu (TCG here; KVM where the probe finds it working). Fails, never skips,
// when qemu, the kernel or busybox are missing.
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { QemuDriver } from '../../../../agent/hypervisor/index.js';
import { buildAppliance, bootMarker } from '../../../../pipeline/index.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('qemu driver boots the built appliance', () => {
  const drivers: QemuDriver[] = [];
  afterAll(async () => {
    for (const d of drivers) await d.stop();
  });

  it('idle image: boots, prints its marker on the serial console, then stops cleanly', async () => {
    const work = await mkdtemp(join(tmpdir(), 'ep-qemu-'));
    const { path } = await buildAppliance({ outDir: work, imageId: 'itest', version: '7', then: 'idle' });
    const hv = new QemuDriver({ workDir: join(work, 'vms') });
    drivers.push(hv);
    const started = Date.now();
    const handle = await hv.start({ imageId: 'itest', version: '7', path });
    expect(hv.status()).toBe('starting');
    await hv.waitForMarker(240_000);
    console.log(`booted under ${handle.accel} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect(hv.status()).toBe('running');
    expect(alive(handle.pid!)).toBe(true);

    await hv.stop();
    expect(hv.status()).toBe('stopped');
    expect(alive(handle.pid!)).toBe(false);
    expect(await readFile(handle.consoleLog, 'utf8')).toContain(bootMarker({ imageId: 'itest', version: '7' }));
  });

  it('poweroff image: the VM exits by itself after its marker', async () => {
    const work = await mkdtemp(join(tmpdir(), 'ep-qemu-'));
    const { path } = await buildAppliance({ outDir: work, imageId: 'itest', version: '8', then: 'poweroff', size: 16 * 1024 * 1024 });
    const hv = new QemuDriver({ workDir: join(work, 'vms'), accel: 'tcg' });
    drivers.push(hv);
    const handle = await hv.start({ imageId: 'itest', version: '8', path });
    await hv.waitForMarker(240_000);
    for (let i = 0; i < 300 && alive(handle.pid!); i++) await new Promise((r) => setTimeout(r, 100));
    expect(alive(handle.pid!)).toBe(false);
    expect(hv.status()).toBe('stopped');
  });
});
