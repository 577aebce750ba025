// Seal/open throughput per core for one image, compared in the same run with the machine's own
// single-core limits: `openssl speed -evp aes-256-gcm` / `-evp sha256` and `sha256sum` on the file.
// "Per core" = image bytes / CPU seconds of this process (user + sys, threadpool I/O included).
import { createPrivateKey } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { generateDataKey, generatePublisherKeys, openImage, sealImage } from '../pipeline/index.js';
import { writeRandomFile } from './random-file.js';

const MiB = 1024 * 1024;

/** bytes/s of one `openssl speed -evp` algorithm at 4 MiB blocks, single process */
async function opensslSpeed(algorithm: string): Promise<number> {
  const { stdout } = await execa('openssl', ['speed', '-seconds', '3', '-bytes', String(4 * MiB), '-evp', algorithm]);
  const last = stdout.trim().split('\n').pop()!;
  const k = /([\d.]+)k\s*$/.exec(last);
  if (!k) throw new Error(`cannot parse openssl speed output: ${last}`);
  return Number(k[1]) * 1000;
}

interface Measured {
  wallS: number;
  cpuS: number;
  sysS: number;
  peakRssDeltaMiB: number;
}

async function measure(fn: () => Promise<unknown>): Promise<Measured> {
  (globalThis as { gc?: () => void }).gc?.();
  const baseRss = process.memoryUsage().rss;
  let peak = baseRss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await fn();
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  return { wallS, cpuS: (cpu.user + cpu.system) / 1e6, sysS: cpu.system / 1e6, peakRssDeltaMiB: (peak - baseRss) / MiB };
}

const rate = (bytes: number, s: number) => `${(bytes / s / MiB).toFixed(0)} MiB/s`;

export async function benchPipeline(opts: { sizeMiB: number }): Promise<string[]> {
  const bytes = opts.sizeMiB * MiB;
  const dir = await mkdtemp(join(tmpdir(), 'edgeplane-bench-'));
  const lines: string[] = [];
  try {
    const image = join(dir, 'image.raw');
    await writeRandomFile(image, bytes);

    const aes = await opensslSpeed('aes-256-gcm');
    const sha = await opensslSpeed('sha256');
    const t0 = process.hrtime.bigint();
    await execa('sha256sum', [image]);
    const sha256sum = bytes / (Number(process.hrtime.bigint() - t0) / 1e9);
    // one AES-GCM pass plus one SHA-256 pass over every byte, on one core
    const limit = 1 / (1 / aes + 1 / sha);
    lines.push(
      `pipeline ${opts.sizeMiB} MiB random image, 4 MiB fixed chunks; machine (1 core): openssl aes-256-gcm ${rate(aes, 1)}, sha256 ${rate(sha, 1)}, ` +
        `sha256sum ${rate(sha256sum, 1)} => AES-GCM + SHA-256 limit ${rate(limit, 1)}`,
    );

    const { privateKeyPem, publicKeyPem } = generatePublisherKeys();
    const dataKey = generateDataKey();
    const sealed = join(dir, 'sealed');
    const seal = await measure(() => sealImage({ imagePath: image, outDir: sealed, imageId: 'bench', version: '1', dataKey, signingKey: createPrivateKey(privateKeyPem) }));
    const report = (name: string, m: Measured, passes: string) => {
      const perCore = bytes / m.cpuS;
      const userOnly = bytes / (m.cpuS - m.sysS);
      lines.push(
        `  ${name.padEnd(24)} ${rate(perCore, 1).padStart(10)} per core = ${((perCore / limit) * 100).toFixed(0)}% of the limit ` +
          `(user CPU only, i.e. without kernel file I/O: ${rate(userOnly, 1)} = ${((userOnly / limit) * 100).toFixed(0)}%), ` +
          `${rate(bytes, m.wallS)} wall, ${m.cpuS.toFixed(2)} CPU-s (${m.sysS.toFixed(2)} sys), peak RSS +${m.peakRssDeltaMiB.toFixed(0)} MiB; ${passes}`,
      );
    };
    report('seal', seal, 'passes: SHA-256 image + HMAC nonce + AES-GCM + SHA-256 blob');
    await rm(image);

    for (const verifyPlaintextDigest of [true, false]) {
      const out = join(dir, `opened-${verifyPlaintextDigest}.img`);
      const m = await measure(() => openImage({ sealedDir: sealed, dataKey, trustedPublicKeys: [publicKeyPem], outPath: out, verifyPlaintextDigest }));
      report(verifyPlaintextDigest ? 'open (+ image SHA-256)' : 'open (agent hot path)', m, verifyPlaintextDigest ? 'passes: SHA-256 blob + AES-GCM + SHA-256 image' : 'passes: SHA-256 blob + AES-GCM');
      await rm(out);
    }
    lines.push('  (goal >= 70% per core; the limit counts one AES-GCM and one SHA-256 pass and no file I/O; each extra SHA-256/HMAC pass costs ~70% of it)');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return lines;
}
