// The libvirt driver: the same direct kernel boot as the qemu driver, as a transient libvirt
// domain managed through `virsh`. The serial console goes to a file that is polled for the marker.
// The log file's directory must be writable by the libvirt qemu user (e.g. libvirt-qemu).
import { mkdir, open, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { extractBootFiles, type ApplianceHeader } from '../../pipeline/index.js';
import { EnvironmentError, silentLogger, type Logger } from '../../common/index.js';
import { ConsoleWatch } from './console.js';
import { findExecutable } from './executables.js';
import { probeKvm, type AccelChoice } from './qemu.js';
import { VmBootError, type Hypervisor, type StagedImage, type VmHandle, type VmStatus } from './types.js';

export interface LibvirtDriverOptions {
  workDir: string;
  /** libvirt connection URI (default qemu:///system) */
  uri?: string;
  virsh?: string;
  accel?: AccelChoice;
  /** prefix of domain names; one domain per node */
  domainPrefix?: string;
  stopTimeoutMs?: number;
  log?: Logger;
}

export const VIRSH_MISSING = 'virsh not found on PATH: the libvirt driver needs libvirt (apt-get install -y libvirt-clients libvirt-daemon-system) and a running libvirtd; or use the qemu driver';

export async function requireVirsh(virsh = 'virsh'): Promise<string> {
  const found = await findExecutable(virsh);
  if (!found) throw new EnvironmentError(VIRSH_MISSING);
  return found;
}

function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** Domain XML for direct kernel boot with the serial console written to `consoleLog`. */
export function domainXml(opts: { name: string; type: 'kvm' | 'qemu'; header: ApplianceHeader; kernelPath: string; initrdPath: string; consoleLog: string }): string {
  const e = xmlEscape;
  return `<domain type='${opts.type}'>
  <name>${e(opts.name)}</name>
  <memory unit='MiB'>${opts.header.memoryMiB}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>${e(resolve(opts.kernelPath))}</kernel>
    <initrd>${e(resolve(opts.initrdPath))}</initrd>
    <cmdline>${e(opts.header.cmdline)}</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <serial type='file'>
      <source path='${e(resolve(opts.consoleLog))}'/>
      <target port='0'/>
    </serial>
  </devices>
</domain>
`;
}

interface Domain {
  name: string;
  handle: VmHandle;
  watch: ConsoleWatch;
  status: VmStatus;
}

export class LibvirtDriver implements Hypervisor {
  readonly name = 'libvirt' as const;
  private dom: Domain | null = null;
  private lastHandle: VmHandle | null = null;
  private starts = 0;
  private readonly log: Logger;

  constructor(private readonly opts: LibvirtDriverOptions) {
    this.log = opts.log ?? silentLogger;
  }

  private async virsh(args: string[]): Promise<string> {
    const virsh = await requireVirsh(this.opts.virsh);
    const r = await execa(virsh, ['-c', this.opts.uri ?? 'qemu:///system', ...args], { reject: false });
    if (r.exitCode !== 0) throw new EnvironmentError(`virsh ${args[0]} failed: ${(r.stderr || r.stdout).trim()}`);
    return r.stdout;
  }

  async start(image: StagedImage): Promise<VmHandle> {
    await requireVirsh(this.opts.virsh);
    await this.stop();
    const n = ++this.starts;
    const dir = join(this.opts.workDir, `vm-${n}`);
    await mkdir(dir, { recursive: true });
    const { header, kernelPath, initrdPath } = await extractBootFiles(image.path, join(dir, 'boot'));
    const type = await this.domainType(kernelPath);
    const name = `${this.opts.domainPrefix ?? 'edgeplane'}-${image.imageId}-${process.pid}-${n}`;
    const consoleLog = join(dir, 'console.log');
    await writeFile(consoleLog, '');
    const xmlPath = join(dir, 'domain.xml');
    await writeFile(xmlPath, domainXml({ name, type, header, kernelPath, initrdPath, consoleLog }));
    await this.virsh(['create', xmlPath]);
    const handle: VmHandle = { id: `${image.imageId}@${image.version}#${n}`, image: { imageId: image.imageId, version: image.version }, consoleLog, accel: type === 'kvm' ? 'kvm' : 'tcg', startedAt: Date.now() };
    this.dom = { name, handle, watch: new ConsoleWatch(header.marker), status: 'starting' };
    this.lastHandle = handle;
    this.log.info({ name, type }, 'libvirt domain created');
    return handle;
  }

  private async domainType(kernelPath: string): Promise<'kvm' | 'qemu'> {
    const choice = this.opts.accel ?? 'auto';
    if (choice !== 'auto') return choice === 'kvm' ? 'kvm' : 'qemu';
    const qemu = await findExecutable('qemu-system-x86_64');
    return qemu && (await probeKvm(qemu, kernelPath)) ? 'kvm' : 'qemu';
  }

  async waitForMarker(timeoutMs = 120_000): Promise<void> {
    const dom = this.dom;
    if (!dom) throw new VmBootError('no VM is running');
    const deadline = Date.now() + timeoutMs;
    let offset = 0;
    while (!dom.watch.markerSeen) {
      const fh = await open(dom.handle.consoleLog, 'r');
      try {
        const buf = Buffer.alloc(64 * 1024);
        const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
        offset += bytesRead;
        dom.watch.feed(buf.subarray(0, bytesRead));
      } finally {
        await fh.close();
      }
      if (dom.watch.markerSeen) break;
      if (this.dom !== dom) throw new VmBootError(`${dom.handle.id} was stopped before it booted`);
      if (Date.now() > deadline) {
        dom.status = 'failed';
        throw new VmBootError(`${dom.handle.id} printed no boot marker within ${Math.round(timeoutMs / 1000)} s`, dom.watch.tail());
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    dom.status = 'running';
  }

  async stop(): Promise<void> {
    const dom = this.dom;
    if (!dom) return;
    this.dom = null;
    dom.status = 'stopped';
    // the appliance has no ACPI daemon: ask qemu to exit (SIGTERM), then force
    const graceful = await execa(await requireVirsh(this.opts.virsh), ['-c', this.opts.uri ?? 'qemu:///system', 'destroy', '--graceful', dom.name], {
      reject: false,
      timeout: this.opts.stopTimeoutMs ?? 5000,
    });
    if (graceful.exitCode !== 0) {
      const state = await execa(await requireVirsh(this.opts.virsh), ['-c', this.opts.uri ?? 'qemu:///system', 'domstate', dom.name], { reject: false });
      if (state.exitCode === 0) await this.virsh(['destroy', dom.name]);
    }
  }

  status(): VmStatus {
    return this.dom?.status ?? 'stopped';
  }

  current(): VmHandle | null {
    return this.dom?.handle ?? this.lastHandle;
  }

  /** Removes this node's VM working files. */
  async clean(): Promise<void> {
    await this.stop();
    await rm(this.opts.workDir, { recursive: true, force: true });
  }
}
