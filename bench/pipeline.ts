// Seal/open of one image against the openssl reference in the same run (`openssl dgst -sha256`
// then `openssl enc -aes-256-ctr -bufsize 1048576` on the same file: wall time), and per core
// against `openssl speed -evp aes-256-gcm` / `-evp sha256`. "Per core" = image bytes / CPU
// seconds of this process (every thread: main, crypto workers, libuv's file I/O).
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { generateDataKey, generatePublisherKeys, openImage, sealImage, sharedCryptoPool } from '../pipeline/index.js';
import { writeRandomFile } from './random-file.js';

const MiB = 1024 * 1024;

/** bytes/s of one `openssl speed -evp` algorithm at 4 MiB blocks, single process */
export async function opensslSpeed(algorithm: string): Promise<number> {
  const { stdout } = await execa('openssl', ['speed', '-seconds', '3', '-bytes', String(4 * MiB), '-evp', algorithm]);
  const last = stdout.trim().split('\n').pop()!;
  const k = /([\d.]+)k\s*$/.exec(last);
  if (!k) throw new Error(`cannot parse openssl speed output: ${last}`);
  return Number(k[1]) * 1000;
}

export interface Measured {
  wallS: number;
  cpuS: number;
  sysS: number;
  peakRssDeltaMiB: number;
}

export async function measure(fn: () => Promise<unknown>): Promise<Measured> {
  (globalThis as { gc?: () => void }).gc?.();
  const baseRss = process.memoryUsage().rss;
  let peak = baseRss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  // process.cpuUsage() counts every thread of the process: the crypto workers are included
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

/** A child process's wall time and CPU time (the kernel's counters of waited-for children). */
async function timedChild(cmd: string, args: string[]): Promise<{ wallS: number; cpuS: number }> {
  const cpu0 = childCpuS();
  const t0 = process.hrtime.bigint();
  await execa(cmd, args, { stdout: 'ignore' });
  return { wallS: Number(process.hrtime.bigint() - t0) / 1e9, cpuS: childCpuS() - cpu0 };
}

/** CPU seconds of all waited-for children of this process (utime + stime from /proc/self/stat). */
export function childCpuS(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[13] = cutime, fields[14] = cstime (stat fields 16 and 17), in clock ticks
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

/** Seal and open of one image against `openssl dgst -sha256` + `openssl enc -aes-256-ctr -bufsize 1048576` on the same file, same run. */
export async function benchPipeline(opts: { sizeMiB: number }): Promise<string[]> {
  const bytes = opts.sizeMiB * MiB;
  const dir = await mkdtemp(join(tmpdir(), 'edgeplane-bench-'));
  const lines: string[] = [];
  try {
    const image = join(dir, 'image.raw');
    await writeRandomFile(image, bytes);
    const pool = sharedCryptoPool();
    const [aes, sha] = [await opensslSpeed('aes-256-gcm'), await opensslSpeed('sha256')];
    // the references, each on the same file: warm page cache first
    await execa('cat', [image], { stdout: 'ignore' });
    const dgst = await timedChild('openssl', ['dgst', '-sha256', image]);
    const key = '00'.repeat(32);
    const iv = '00'.repeat(16);
    const enc = await timedChild('openssl', ['enc', '-aes-256-ctr', '-bufsize', '1048576', '-K', key, '-iv', iv, '-in', image, '-out', join(dir, 'openssl.enc')]);
    await rm(join(dir, 'openssl.enc'));
    const refS = dgst.wallS + enc.wallS;
    lines.push(
      `pipeline ${opts.sizeMiB} MiB random image, 4 MiB fixed chunks, ${pool.size} crypto worker(s), load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    lines.push(
      `  reference: openssl dgst -sha256 ${rate(bytes, dgst.wallS)} (${dgst.wallS.toFixed(2)} s, ${dgst.cpuS.toFixed(2)} CPU-s) + openssl enc -aes-256-ctr -bufsize 1048576 ${rate(bytes, enc.wallS)} ` +
        `(${enc.wallS.toFixed(2)} s, ${enc.cpuS.toFixed(2)} CPU-s) = ${refS.toFixed(2)} s wall; openssl speed per core: aes-256-gcm ${rate(aes, 1)}, sha256 ${rate(sha, 1)}`,
    );
    // one AES-GCM pass plus one SHA-256 pass over every byte, on one core
    const limit = 1 / (1 / aes + 1 / sha);

    const { privateKeyPem, publicKeyPem } = generatePublisherKeys();
    const dataKey = generateDataKey();
    const sealed = join(dir, 'sealed');
    const seal = await measure(() => sealImage({ imagePath: image, outDir: sealed, imageId: 'bench', version: '1', dataKey, signingKey: createPrivateKey(privateKeyPem), pool }));
    const report = (name: string, m: Measured, passes: string) => {
      const perCore = bytes / m.cpuS;
      lines.push(
        `  ${name.padEnd(24)} ${rate(bytes, m.wallS).padStart(10)} wall (${m.wallS.toFixed(2)} s) = ${(refS / m.wallS).toFixed(2)}x the openssl reference (goal >= 0.70x); ` +
          `${m.cpuS.toFixed(2)} CPU-s (${m.sysS.toFixed(2)} sys, workers included) = ${rate(perCore, 1)} per core = ${((perCore / limit) * 100).toFixed(0)}% of openssl speed's AES-GCM + SHA-256 per core; ` +
          `peak RSS +${m.peakRssDeltaMiB.toFixed(0)} MiB; ${passes}`,
      );
    };
    report('seal', seal, 'passes: SHA-256 image + HMAC nonce + AES-GCM + SHA-256 blob');
    await rm(image);
    for (const verifyPlaintextDigest of [true, false]) {
      const out = join(dir, `opened-${verifyPlaintextDigest}.img`);
      const m = await measure(() => openImage({ sealedDir: sealed, dataKey, trustedPublicKeys: [publicKeyPem], outPath: out, verifyPlaintextDigest, pool }));
      report(verifyPlaintextDigest ? 'open (+ image SHA-256)' : 'open (agent hot path)', m, verifyPlaintextDigest ? 'passes: SHA-256 blob + AES-GCM + SHA-256 image' : 'passes: SHA-256 blob + AES-GCM');
      await rm(out);
    }
    lines.push('  (the openssl reference does one SHA-256 and one AES-CTR pass, one after the other on one core; seal does two SHA-256-class passes more, spread over the workers)');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return lines;
}
