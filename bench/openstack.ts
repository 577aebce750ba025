// Glance download benchmark on the live stack (`npm run bench -- openstack`): one sealed image
// (>= 256 MiB) in one Glance, fetched in the same run by
//   curl             GET /v2/images/{id}/file with the node's token, to /dev/null
//   glance client    `glance image-download` (python3-glanceclient, OS_* from the stack's openrc)
//   fetch only       the agent's ranged GETs (node client, node:http), bytes dropped; and one
//                    whole GET of the file (the agent's default for a fresh image: plain socket)
//   + verify         ... and each blob's size + SHA-256 checked on the crypto workers
//   + decrypt        ... and decrypted there (AES-256-GCM), plaintext dropped
//   disk             256 MiB written and fdatasynced: buffered (pages freed by the run before are
//                    reused: warm memory) and O_DIRECT (the agent's path for the staged image), the
//                    bound of any to-disk path. On a VM whose host takes free memory back, buffered
//                    writes into cold memory cost much more (see docs/agent.md)
//   agent, to disk   the real `edgeplane agent` process deploying the image (sim hypervisor):
//                    figures from its own events (the `fetch` line and the transfer..decrypt marks)
// then seal and open of the same image size against the openssl reference (bench/pipeline.ts),
// and the control-plane overhead of one deployment (login + assignment + manifest + key) over
// fresh node logins (EDGEPLANE_BENCH_AGENT_PROF=DIR: V8 CPU profiles of the agent processes and
// their crypto workers). MB = 10^6 bytes. Each throughput is the median of `repeats` runs; CPU time
// is given beside wall time (children's from the kernel's counters, the agent's from its events).
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { stringify as toYaml } from 'yaml';
import { DIRECT_BLOCK, DirectWriter } from '../agent/index.js';
import { quantile } from '../common/index.js';
import { agentFileFor, enrollFleet, openFleet, OpenStackNodeClient, processTree, publishToFleet, type NodeConfig } from '../control-openstack/index.js';
import { alignedOffset, chunkKeysFor, readDataKey, readPublicKey, sharedCryptoPool, verifyManifest, type ImageManifest } from '../pipeline/index.js';
import { benchPipeline, childCpuS, opensslSpeed } from './pipeline.js';
import { writeRandomFile } from './random-file.js';

const MiB = 1024 * 1024;

export interface BenchOpenStackOptions {
  /** state dir of a running `edgeplane up openstack` */
  stateDir: string;
  sizeMiB?: number;
  repeats?: number;
  /** fresh node logins for the control-plane overhead */
  logins?: number;
  /** ranges in flight for the agent (and the in-process stages) */
  rangesInFlight?: number;
}

/** CPU seconds used so far by a process and everything under it (utime + stime + reaped children's, from /proc). */
function treeCpuS(root: number | undefined): number {
  if (root === undefined) return Number.NaN;
  let ticks = 0;
  for (const pid of processTree(root)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {
      // the process ended while we looked
    }
  }
  return ticks / 100;
}

const sorted = (values: number[]): number[] => [...values].sort((a, b) => a - b);
const median = (values: number[]): number => quantile(sorted(values), 0.5);

/** Ranged GETs of every chunk with `inFlight` requests outstanding; `each` sees each chunk's blob (awaited before the next request of that lane). */
async function rangedFetch(client: OpenStackNodeClient, imageId: string, m: ImageManifest, inFlight: number, each?: (index: number, blob: Buffer) => Promise<void>): Promise<number> {
  const offsets: number[] = [];
  let off = 0;
  for (const c of m.chunks) {
    offsets.push(off);
    off += c.size;
  }
  let next = 0;
  let bytes = 0;
  const worker = async (): Promise<void> => {
    while (next < m.chunks.length) {
      const i = next++;
      const blob = await client.downloadRange(imageId, offsets[i]!, m.chunks[i]!.size);
      bytes += blob.length;
      if (each) await each(i, blob);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return bytes;
}

function openrcEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^export (OS_[A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!.replace(/^'(.*)'$/, '$1');
  }
  return env;
}

interface AgentRun {
  /** the agent's fetch round (whole GET or ranges + verify + decrypt into the partial staged image + journal) */
  fetchS: number;
  fetchCpuS: number;
  /** transfer start to the staged image verified and renamed (fsync and the whole-image SHA-256 included) */
  stagedS: number;
  peakRssMiB: number;
  bytes: number;
}

/** One deployment by a real `edgeplane agent` process (fresh state dir), read from its events.ndjson. */
async function agentDeploy(cli: string, work: string, name: string, config: NodeConfig, trust: string, rangesInFlight: number): Promise<AgentRun> {
  const stateDir = join(work, name);
  const file = join(work, `${name}.agent.yaml`);
  const body = { ...agentFileFor({ nodeId: name, config } as Parameters<typeof agentFileFor>[0], [trust]), stateDir, hypervisor: { kind: 'sim' }, fetch: { rangesInFlight }, machine: { pollIntervalS: 1 } };
  writeFileSync(file, toYaml(body), { mode: 0o600 });
  // EDGEPLANE_BENCH_AGENT_PROF=DIR: each agent process writes a V8 CPU profile (its threads' too) there
  const prof = process.env.EDGEPLANE_BENCH_AGENT_PROF;
  const flags = prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : [];
  const child = spawn(process.execPath, [...flags, cli, 'agent', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const events = join(stateDir, 'events.ndjson');
  const deadline = Date.now() + 600_000;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`agent exited (${child.exitCode}): ${stderr.slice(-400)}`);
      if (Date.now() > deadline) throw new Error('agent did not finish in 600 s');
      const lines = existsSync(events)
        ? readFileSync(events, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as Record<string, unknown>)
        : [];
      const done = lines.find((l) => l.type === 'done');
      if (done) {
        if (done.outcome !== 'running') throw new Error(`agent deployment failed: ${String(done.reason)}`);
        const fetch = lines.filter((l) => l.type === 'fetch');
        const mark = (phase: string, edge: string) => lines.find((l) => l.type === 'mark' && l.phase === phase && l.edge === edge)?.t as number;
        return {
          fetchS: fetch.reduce((n, l) => n + (l.ms as number), 0) / 1000,
          fetchCpuS: fetch.reduce((n, l) => n + (l.cpuMs as number), 0) / 1000,
          stagedS: (mark('decrypt', 'end') - mark('transfer', 'start')) / 1000,
          peakRssMiB: Math.max(...fetch.map((l) => l.peakRssMiB as number)),
          bytes: fetch.reduce((n, l) => n + (l.bytes as number), 0),
        };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
  }
}

export async function benchOpenStack(opts: BenchOpenStackOptions): Promise<string[]> {
  const sizeMiB = opts.sizeMiB ?? 256;
  const repeats = opts.repeats ?? 3;
  const logins = opts.logins ?? 20;
  const lines: string[] = [];
  const { stack, operator } = openFleet(opts.stateDir);
  const work = await mkdtemp(join(tmpdir(), 'edgeplane-bench-os-'));
  try {
    const run = randomBytes(3).toString('hex');
    const raw = join(work, 'image.raw');
    await writeRandomFile(raw, sizeMiB * MiB);
    const keysDir = join(work, 'keys');
    const pub = await publishToFleet(operator, { source: raw, imageId: `bench-${run}`, version: '1', keysDir, sealedDir: join(work, 'sealed') });
    const [enrolled] = await enrollFleet(operator, [`bench-${run}`]);
    const node = enrolled!.node;
    await operator.pin(node.nodeId, pub);
    const client = new OpenStackNodeClient(node.config);
    await client.login();
    const fetched = await client.getManifest({ imageId: pub.imageId, version: '1' });
    const manifest = verifyManifest(fetched.bytes, [await readPublicKey(join(keysDir, 'publisher.pub'))]);
    const dataKey = await readDataKey(join(keysDir, 'data.key'));
    const bytes = pub.blobBytes;
    const mbps = (s: number) => bytes / 1e6 / s;
    const url = `${stack.endpoints.image}/v2/images/${pub.imageId}/file`;
    lines.push(
      `openstack glance download: sealed image ${(bytes / MiB).toFixed(1)} MiB in ${manifest.chunks.length} chunks of 4 MiB, Glance ${stack.state.withCeph ? 'RBD' : 'file'} store on loopback, ` +
        `median of ${repeats} runs (MB = 10^6 B), load average ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')} on ${availableParallelism()} CPUs`,
    );

    const n = opts.rangesInFlight ?? 8;
    const rows: { name: string; s: number; cpuS: number | null; glanceCpuS: number; note?: string }[] = [];
    // Glance's own CPU beside each row: on 2 cores the client and the server share the machine
    const glanceCpuS = () => treeCpuS(stack.state.pids.glance);
    /** median wall of `repeats` runs after a warm-up; CPU per run of this process (in-process) or of the children */
    const measure = async (name: string, fn: () => Promise<unknown>, where: 'self' | 'child'): Promise<void> => {
      await fn(); // warm-up (page cache of the Glance store, connections, token caches)
      const s: number[] = [];
      const cpu0 = process.cpuUsage();
      const child0 = childCpuS();
      const glance0 = glanceCpuS();
      for (let i = 0; i < repeats; i++) {
        const t = performance.now();
        await fn();
        s.push((performance.now() - t) / 1000);
      }
      const used = process.cpuUsage(cpu0);
      rows.push({ name, s: median(s), cpuS: (where === 'self' ? (used.user + used.system) / 1e6 : childCpuS() - child0) / repeats, glanceCpuS: (glanceCpuS() - glance0) / repeats });
    };

    const token = await client.session.token();
    await measure('curl, whole file to /dev/null', () => execa('curl', ['-sf', '-o', '/dev/null', '-H', `X-Auth-Token: ${token}`, url]), 'child');
    const env = { ...process.env, ...openrcEnv(await readFile(stack.layout.openrc, 'utf8')) };
    await measure('glance image-download to /dev/null', () => execa('glance', ['--os-image-api-version', '2', 'image-download', '--file', '/dev/null', pub.imageId], { env }), 'child');

    const pool = sharedCryptoPool();
    const keys = chunkKeysFor(manifest, dataKey);
    const expectBytes = (got: number) => {
      if (got !== bytes) throw new Error(`fetched ${got} bytes, expected ${bytes}`);
    };
    await measure(`agent data path: fetch only (${n} ranges in flight)`, async () => expectBytes(await rangedFetch(client, pub.imageId, manifest, n)), 'self');
    await measure(
      'agent data path: fetch only (one whole GET, plain socket)',
      async () => {
        const blob = await client.downloadBlob(pub.imageId);
        let got = 0;
        for await (const part of blob.stream as AsyncIterable<Buffer>) got += part.length;
        expectBytes(got);
      },
      'self',
    );
    const onWorkers = (decrypt: boolean) => async (i: number, blob: Buffer) => {
      const entry = manifest.chunks[i]!;
      const lease = await pool.lease(blob.length);
      try {
        blob.copy(lease.input);
        if (decrypt) await pool.open(keys, manifest.imageId, entry, lease, blob.length);
        else await pool.verify(keys, manifest.imageId, entry, lease, blob.length);
      } finally {
        lease.release();
      }
    };
    await measure(`agent data path: + verify (SHA-256 on ${pool.size} crypto workers)`, async () => expectBytes(await rangedFetch(client, pub.imageId, manifest, n, onWorkers(false))), 'self');
    await measure('agent data path: + decrypt (AES-256-GCM, plaintext dropped)', async () => expectBytes(await rangedFetch(client, pub.imageId, manifest, n, onWorkers(true))), 'self');

    // the disk's bound for any to-disk path: the agent writes the image once (the staged plaintext), durably
    const scratch = join(work, 'disk-probe');
    const probe = Buffer.alloc(4 * MiB, 1);
    await measure(
      `disk: buffered write + fdatasync ${(bytes / MiB).toFixed(0)} MiB (warm memory)`,
      async () => {
        const fh = await open(scratch, 'w');
        try {
          for (let at = 0; at < bytes; at += probe.length) await fh.write(probe, 0, Math.min(probe.length, bytes - at));
          await fh.datasync();
        } finally {
          await fh.close();
        }
      },
      'self',
    );
    await rm(scratch, { force: true });
    await writeFile(scratch, '');
    const dio = await DirectWriter.open(scratch);
    if (dio) {
      // a region whose memory O_DIRECT takes (found as the agent finds it)
      const region = Buffer.alloc(probe.length + DIRECT_BLOCK, 1);
      const at = alignedOffset(region, dio.probe);
      const aligned = region.subarray(Math.max(0, at), Math.max(0, at) + probe.length);
      const fh = await open(scratch, 'r+');
      try {
        await measure(
          `disk: O_DIRECT write + fdatasync ${(bytes / MiB).toFixed(0)} MiB (the agent's staged image)`,
          async () => {
            for (let pos = 0; pos < bytes; pos += aligned.length) await dio.write(fh, aligned.subarray(0, Math.min(aligned.length, bytes - pos)), pos, at >= 0);
            await fh.datasync();
          },
          'self',
        );
      } finally {
        await fh.close();
        await dio.close();
      }
    } else lines.push('  disk: no O_DIRECT on this file system (the agent writes buffered here)');
    // the real agent process, as a node runs it: fresh state dir each run, figures from its events
    const cli = fileURLToPath(new URL('../cli/main.js', import.meta.url));
    const trust = join(keysDir, 'publisher.pub');
    const agentRuns: AgentRun[] = [];
    let agentGlance0 = 0;
    for (let i = 0; i <= repeats; i++) {
      if (i === 1) agentGlance0 = glanceCpuS();
      const r = await agentDeploy(cli, work, `${node.nodeId}-run${i}`, node.config, trust, n);
      if (r.bytes !== bytes) throw new Error(`the agent fetched ${r.bytes} bytes, expected ${bytes}`);
      if (i > 0) agentRuns.push(r); // the first is the warm-up
    }
    const agentFetch = median(agentRuns.map((r) => r.fetchS));
    const agentStaged = median(agentRuns.map((r) => r.stagedS));
    const agentCpu = median(agentRuns.map((r) => r.fetchCpuS));
    const peak = Math.max(...agentRuns.map((r) => r.peakRssMiB));
    // the whole deployment's Glance CPU (its login and control calls are a few ms of it)
    const agentGlance = (glanceCpuS() - agentGlance0) / repeats;
    rows.push({ name: `agent process: fetch + verify + decrypt to disk (its fetch event)`, s: agentFetch, cpuS: agentCpu, glanceCpuS: agentGlance, note: `peak RSS ${peak} MiB` });
    rows.push({ name: 'agent process: transfer start .. staged image verified + renamed (marks)', s: agentStaged, cpuS: null, glanceCpuS: Number.NaN });

    const curl = rows[0]!.s;
    const glance = rows[1]!.s;
    for (const r of rows) {
      lines.push(
        `  ${r.name.padEnd(74)} ${r.s.toFixed(3).padStart(7)} s  ${mbps(r.s).toFixed(0).padStart(5)} MB/s  ${(curl / r.s).toFixed(2)}x curl  ${(glance / r.s).toFixed(2)}x glance-client` +
          (r.cpuS === null ? '' : `  CPU ${r.cpuS.toFixed(2)} s`) +
          (Number.isNaN(r.glanceCpuS) ? '' : `  Glance CPU ${r.glanceCpuS.toFixed(2)} s`) +
          (r.note ? `  ${r.note}` : ''),
      );
    }
    // with every core busy the agent cannot finish before (its CPU + Glance's) / cores
    const cores = availableParallelism();
    const floor = (agentCpu + agentGlance) / cores;
    lines.push(
      `  CPU floor of the agent's fetch on ${cores} cores: (agent ${agentCpu.toFixed(2)} s + Glance ${agentGlance.toFixed(2)} s) / ${cores} = ${floor.toFixed(3)} s ` +
        `= ${(curl / floor).toFixed(2)}x curl at best (curl moves the bytes with no hashing or decryption: curl ${rows[0]!.cpuS?.toFixed(2)} s + Glance ${rows[0]!.glanceCpuS.toFixed(2)} s CPU)`,
    );
    // the best any client could do here: curl's bytes (its CPU and Glance's) plus one SHA-256 and one
    // AES-256-GCM pass at openssl speed's per-core rates, every core busy; writing the image not counted
    const [aes, sha] = [await opensslSpeed('aes-256-gcm'), await opensslSpeed('sha256')];
    const bestCryptoS = bytes / aes + bytes / sha;
    const ideal = ((rows[0]!.cpuS ?? 0) + rows[0]!.glanceCpuS + bestCryptoS) / cores;
    lines.push(
      `  CPU floor of any verifying client on ${cores} cores: (curl ${(rows[0]!.cpuS ?? 0).toFixed(2)} s + Glance ${rows[0]!.glanceCpuS.toFixed(2)} s + SHA-256 and AES-256-GCM at openssl speed ` +
        `${bestCryptoS.toFixed(2)} s) / ${cores} = ${ideal.toFixed(3)} s = ${(curl / ideal).toFixed(2)}x curl at best${curl / ideal < 1 ? ': >= 1.0x curl cannot be reached on this machine' : ''}`,
    );
    lines.push(
      `  goal, agent process (to disk): >= 1.0x curl (${(curl / agentFetch).toFixed(2)}x: ${curl / agentFetch >= 1 ? 'MET' : 'MISSED'}), ` +
        `>= 1.5x glance-client (${(glance / agentFetch).toFixed(2)}x: ${glance / agentFetch >= 1.5 ? 'MET' : 'MISSED'}); load average now ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}`,
    );

    // control-plane overhead of one deployment, fresh node client (new login) each time
    const phases: Record<'auth' | 'assignment' | 'manifest' | 'key' | 'total', number[]> = { auth: [], assignment: [], manifest: [], key: [], total: [] };
    const config: NodeConfig = node.config;
    for (let i = 0; i < logins + 1; i++) {
      const c = new OpenStackNodeClient(config);
      const t0 = performance.now();
      await c.login();
      const t1 = performance.now();
      const a = (await c.getAssignment())!;
      const t2 = performance.now();
      const m = await c.getManifest(a);
      const t3 = performance.now();
      await c.getKey(m.keyRef);
      const t4 = performance.now();
      if (i === 0) continue; // warm-up
      phases.auth.push(t1 - t0);
      phases.assignment.push(t2 - t1);
      phases.manifest.push(t3 - t2);
      phases.key.push(t4 - t3);
      phases.total.push(t4 - t0);
    }
    const fmt = (v: number[]) => `p50 ${median(v).toFixed(1)} ms`;
    lines.push(
      `openstack control-plane overhead per deployment (${logins} fresh node logins, Keystone password_hash_rounds = ${stack.state.passwordHashRounds}): ` +
        `total ${fmt(phases.total)} (p95 ${quantile(sorted(phases.total), 0.95).toFixed(1)} ms) = auth ${fmt(phases.auth)}, assignment ${fmt(phases.assignment)}, ` +
        `manifest ${fmt(phases.manifest)}, key ${fmt(phases.key)}; vs curl of the whole image ${(curl * 1000).toFixed(0)} ms`,
    );
    await operator.revokeNode(node.nodeId).catch(() => undefined);
    // seal and open of the same size, against the openssl reference, in this run
    lines.push(...(await benchPipeline({ sizeMiB })));
    return lines;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
