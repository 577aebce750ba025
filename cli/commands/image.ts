import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { createHypervisor, HYPERVISOR_KINDS } from '../../agent/hypervisor/index.js';
import { InputError } from '../../common/index.js';
import {
  buildAppliance,
  checkKeyRef,
  deltaPlan,
  fastcdcSpec,
  IMAGE_ID_RE,
  openImage,
  readApplianceHeader,
  readDataKey,
  readPublicKey,
  readSealed,
  readSigningKey,
  sealImage,
  toManifestInfo,
  validateChunking,
  writeKeyFiles,
  DEFAULT_CHUNK_SIZE,
  type ChunkingSpec,
} from '../../pipeline/index.js';
import { formatBytes, parseSize } from '../../scenarios/index.js';
import { collect, say } from '../options.js';

/** --id and --image-version end up in file names and manifests: plain names only. */
function checkImageName(value: string, flag: string): void {
  if (!IMAGE_ID_RE.test(value)) {
    const shown = value.length > 40 ? `${value.slice(0, 30)}…` : value;
    throw new InputError(`${flag} "${shown}" is not a valid name: 1 to 128 letters, digits, ".", "_" and "-", starting with a letter or digit`);
  }
}

function seconds(flag: string): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!/^\s*\d+(\.\d+)?\s*$/.test(text) || !(n > 0 && n <= 86_400)) throw new InvalidArgumentError(`${flag} takes seconds, more than 0 and at most 86400, got "${text.slice(0, 40)}"`);
    return n;
  };
}

function size(text: string): number {
  try {
    return parseSize(text);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

export function register(program: Command): void {
  const image = program.command('image').description('build, seal, open and boot appliance images');

  image
    .command('build')
    .description('build a small bootable appliance image (Debian kernel + busybox initramfs printing a boot marker)')
    .requiredOption('--out <dir>', 'output directory (the image is <dir>/<id>-<version>.img)')
    .option('--id <imageId>', 'image id', 'appliance')
    .option('--image-version <version>', 'image version', '1')
    .option('--size <size>', 'pad the image to this size for transfer tests, e.g. 64MiB, 1GiB', size)
    .addOption(new Option('--then <action>', 'after printing the marker').choices(['idle', 'poweroff']).default('idle'))
    .option('--kernel <path>', 'kernel to boot (default: newest /boot/vmlinuz-*)')
    .option('--busybox <path>', 'statically linked busybox', '/bin/busybox')
    .action(async (f: { out: string; id: string; imageVersion: string; size?: number; then: 'idle' | 'poweroff'; kernel?: string; busybox: string }) => {
      const { path, header } = await buildAppliance({ outDir: f.out, imageId: f.id, version: f.imageVersion, size: f.size, then: f.then, kernelPath: f.kernel, busyboxPath: f.busybox });
      say(`${path}  ${formatBytes(header.size)}  marker "${header.marker}"  then ${header.then}`);
    });

  image
    .command('keygen')
    .description('create a publisher Ed25519 key pair (publisher.key, publisher.pub) and a 32-byte data key (data.key)')
    .requiredOption('--out <dir>', 'output directory (existing key files are never overwritten)')
    .action(async (f: { out: string }) => {
      const k = await writeKeyFiles(f.out);
      say(`signing key ${k.signingKey}\npublic key  ${k.publicKey} (key id ${k.keyId})\ndata key    ${k.dataKey}`);
    });

  image
    .command('seal <image>')
    .description('chunk, encrypt and sign an image into <dir>/manifest.json and <dir>/chunks/')
    .requiredOption('--out <dir>', 'sealed image directory (blobs already present are kept: versions share chunks)')
    .requiredOption('--signing-key <pem>', 'publisher Ed25519 private key')
    .requiredOption('--data-key <file>', '32-byte data key of this image lineage')
    .option('--id <imageId>', 'image id (default: from the appliance header)')
    .option('--image-version <version>', 'image version (default: from the appliance header)')
    .option('--key-ref <ref>', 'KMS reference of the data key recorded in the manifest')
    .addOption(new Option('--chunking <algorithm>', 'fixed-size or content-defined chunks').choices(['fixed', 'fastcdc']).default('fixed'))
    .option('--chunk-size <size>', 'chunk size (fixed) or average chunk size (fastcdc, a power of two)', size, DEFAULT_CHUNK_SIZE)
    .action(async (path: string, f: { out: string; signingKey: string; dataKey: string; id?: string; imageVersion?: string; keyRef?: string; chunking: string; chunkSize: number }) => {
      // every flag is checked before anything is read or written
      if (f.keyRef !== undefined) checkKeyRef(f.keyRef);
      if (f.id !== undefined) checkImageName(f.id, '--id');
      if (f.imageVersion !== undefined) checkImageName(f.imageVersion, '--image-version');
      const chunking: ChunkingSpec = validateChunking(f.chunking === 'fastcdc' ? fastcdcSpec(f.chunkSize) : { algorithm: 'fixed', size: f.chunkSize });
      let { id, imageVersion } = f;
      if (!id || !imageVersion) {
        const header = await readApplianceHeader(path).catch(() => {
          throw new InputError(`${path} is not an appliance image: give --id and --image-version`);
        });
        id ??= header.imageId;
        imageVersion ??= header.version;
      }
      const started = Date.now();
      const r = await sealImage({
        imagePath: path,
        outDir: f.out,
        imageId: id,
        version: imageVersion,
        dataKey: await readDataKey(f.dataKey),
        signingKey: await readSigningKey(f.signingKey),
        keyRef: f.keyRef,
        chunking,
      });
      const secs = (Date.now() - started) / 1000;
      say(`sealed ${id}@${imageVersion}: ${formatBytes(r.manifest.plaintext.size)} in ${r.manifest.chunks.length} chunks (${r.chunksWritten} new) in ${secs.toFixed(1)} s`);
      say(`manifest ${join(f.out, 'manifest.json')}  sha256 ${r.manifest.plaintext.sha256}`);
    });

  image
    .command('open <sealed-dir>')
    .description('verify and decrypt a sealed image; refuses anything tampered (exit 2)')
    .requiredOption('--out <file>', 'where to write the decrypted image')
    .requiredOption('--data-key <file>', '32-byte data key')
    .requiredOption('--trust <pem>', 'trusted publisher public key (repeatable)', collect, [])
    .action(async (dir: string, f: { out: string; dataKey: string; trust: string[] }) => {
      const trusted = await Promise.all(f.trust.map(readPublicKey));
      const m = await openImage({ sealedDir: dir, dataKey: await readDataKey(f.dataKey), trustedPublicKeys: trusted, outPath: f.out });
      say(`opened ${m.imageId}@${m.version}: ${formatBytes(m.plaintext.size)} verified (${m.chunks.length} chunks, sha256 ${m.plaintext.sha256}) -> ${f.out}`);
    });

  image
    .command('delta <previous> <next>')
    .description('which chunks of <next> a node holding <previous> must fetch (sealed directories)')
    .requiredOption('--trust <pem>', 'trusted publisher public key (repeatable)', collect, [])
    .option('--json', 'print the plan as JSON')
    .action(async (prev: string, next: string, f: { trust: string[]; json?: boolean }) => {
      const trusted = await Promise.all(f.trust.map(readPublicKey));
      const [a, b] = [(await readSealed(prev, trusted)).manifest, (await readSealed(next, trusted)).manifest];
      const plan = deltaPlan(toManifestInfo(a), toManifestInfo(b));
      if (f.json) say(JSON.stringify({ from: `${a.imageId}@${a.version}`, to: `${b.imageId}@${b.version}`, ...plan }));
      else
        say(
          `${a.imageId}@${a.version} -> ${b.imageId}@${b.version}: fetch ${plan.fetch.length} of ${b.chunks.length} chunks, ${formatBytes(plan.fetchBytes)} of ${formatBytes(plan.totalBytes)} (${formatBytes(plan.reusedBytes)} reused)`,
        );
    });

  image
    .command('boot <image>')
    .description('boot a (decrypted) appliance image, wait for its boot marker, then stop it')
    .addOption(new Option('--hypervisor <driver>', 'driver').choices([...HYPERVISOR_KINDS]).default('qemu'))
    .addOption(new Option('--accel <accel>', 'qemu accelerator (auto probes KVM, falls back to TCG)').choices(['auto', 'kvm', 'tcg']).default('auto'))
    .option('--timeout <seconds>', 'how long to wait for the marker', seconds('--timeout'), 180)
    .option('--work <dir>', 'where boot files and the console log go (default: a temporary directory)')
    .action(async (path: string, f: { hypervisor: string; accel: 'auto' | 'kvm' | 'tcg'; timeout: number; work?: string }) => {
      const header = await readApplianceHeader(path);
      const workDir = f.work ?? (await mkdtemp(join(tmpdir(), 'edgeplane-boot-')));
      const hv = createHypervisor(f.hypervisor, { workDir, accel: f.accel });
      const started = Date.now();
      try {
        const handle = await hv.start({ imageId: header.imageId, version: header.version, path });
        await hv.waitForMarker(f.timeout * 1000);
        say(`${header.marker} seen after ${((Date.now() - started) / 1000).toFixed(1)} s (${hv.name}, ${handle.accel}); console ${handle.consoleLog || '(none)'}`);
      } finally {
        await hv.stop();
      }
    });
}
