import { afterEach, describe, expect, it, vi } from 'vitest';
import { EnvironmentError, InputError } from '../../../../common/index.js';
import { createHypervisor, domainXml, LibvirtDriver, QemuDriver, SimHypervisor, VmBootError, VIRSH_MISSING } from '../../../../agent/hypervisor/index.js';
import { ConsoleWatch } from '../../../../agent/hypervisor/console.js';
import type { ApplianceHeader } from '../../../../pipeline/index.js';

const image = (version = '1') => ({ imageId: 'app', version, path: '/nonexistent.img' });

describe('SimHypervisor (a timed fake)', () => {
  afterEach(() => vi.useRealTimers());

  it('boots after its delay and runs one VM at a time', async () => {
    vi.useFakeTimers();
    const hv = new SimHypervisor({ bootDelayMs: 1000 });
    const h1 = await hv.start(image('1'));
    expect(hv.status()).toBe('starting');
    const booted = hv.waitForMarker();
    await vi.advanceTimersByTimeAsync(999);
    expect(hv.status()).toBe('starting');
    await vi.advanceTimersByTimeAsync(1);
    await booted;
    expect(hv.status()).toBe('running');
    const h2 = await hv.start(image('2'));
    expect(h2.id).not.toBe(h1.id);
    expect(hv.current()?.image).toEqual({ imageId: 'app', version: '2' });
    await hv.stop();
    expect(hv.status()).toBe('stopped');
  });

  it('a boot delay given as a function is asked at each start (an emulation rewrites it per repeat)', async () => {
    vi.useFakeTimers();
    let delay = 100;
    const hv = new SimHypervisor({ bootDelayMs: () => delay });
    await hv.start(image('1'));
    await vi.advanceTimersByTimeAsync(100);
    expect(hv.status()).toBe('running');
    delay = 300;
    await hv.start(image('2'));
    await vi.advanceTimersByTimeAsync(299);
    expect(hv.status()).toBe('starting');
    await vi.advanceTimersByTimeAsync(1);
    expect(hv.status()).toBe('running');
  });

  it('fails on demand, at start or during boot, and times out', async () => {
    const hv = new SimHypervisor({ bootDelayMs: 5, fail: 'start' });
    await expect(hv.start(image())).rejects.toThrow(VmBootError);
    hv.setFailure('boot');
    await hv.start(image());
    await expect(hv.waitForMarker()).rejects.toThrow(/injected boot failure/);
    expect(hv.status()).toBe('failed');
    hv.setFailure(null);
    const slow = new SimHypervisor({ bootDelayMs: 10_000 });
    await slow.start(image());
    await expect(slow.waitForMarker(20)).rejects.toThrow(/no boot marker/);
    await slow.stop();
  });

  it('a stop during boot rejects the waiter', async () => {
    const hv = new SimHypervisor({ bootDelayMs: 10_000 });
    await hv.start(image());
    const waiting = hv.waitForMarker();
    await hv.stop();
    await expect(waiting).rejects.toThrow(/stopped before it booted/);
  });
});

describe('ConsoleWatch', () => {
  it('sees a marker split across reads and only as a whole line', () => {
    const w = new ConsoleWatch('EDGEPLANE-BOOT-OK app@1');
    w.feed('[ 1.0] booting\r\nEDGEPLANE-BOOT-OK app@10\r\n');
    expect(w.markerSeen).toBe(false);
    w.feed('EDGEPLANE-BOOT');
    w.feed('-OK app@1\r');
    expect(w.markerSeen).toBe(false);
    w.feed('\n');
    expect(w.markerSeen).toBe(true);
    expect(w.tail(2)).toEqual(['EDGEPLANE-BOOT-OK app@10', 'EDGEPLANE-BOOT-OK app@1']);
  });
});

describe('driver environment errors', () => {
  it('libvirt without virsh says so clearly (EnvironmentError, exit 3)', async () => {
    const hv = new LibvirtDriver({ workDir: '/tmp/unused', virsh: 'virsh-that-does-not-exist' });
    const err = await hv.start(image()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EnvironmentError);
    expect((err as EnvironmentError).exitCode).toBe(3);
    expect((err as Error).message).toBe(VIRSH_MISSING);
  });

  it('qemu without its binary says what to install', async () => {
    const hv = new QemuDriver({ workDir: '/tmp/unused', qemuBinary: 'qemu-system-missing' });
    await expect(hv.start(image())).rejects.toThrow(/qemu-system-missing not found on PATH: install qemu-system-x86/);
  });

  it('an unknown driver is bad input', () => {
    expect(() => createHypervisor('vmware', { workDir: '/tmp' })).toThrow(InputError);
    expect(createHypervisor('sim', { workDir: '/tmp' }).name).toBe('sim');
  });
});

describe('libvirt domain XML', () => {
  it('direct-boots the appliance with the console in a file, escaping paths', () => {
    const header = { memoryMiB: 256, cmdline: 'console=ttyS0 quiet panic=-1' } as ApplianceHeader;
    const xml = domainXml({ name: 'edgeplane-app-1', type: 'qemu', header, kernelPath: '/w/a&b/vmlinuz', initrdPath: '/w/initrd.gz', consoleLog: "/w/it's.log" });
    expect(xml).toContain("<domain type='qemu'>");
    expect(xml).toContain('<kernel>/w/a&amp;b/vmlinuz</kernel>');
    expect(xml).toContain("<source path='/w/it&apos;s.log'/>");
    expect(xml).toContain("<memory unit='MiB'>256</memory>");
  });
});
