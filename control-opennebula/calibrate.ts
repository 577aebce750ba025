// `edgeplane calibrate opennebula`: every operation of the OpenNebula model measured on the live
// front-end with the real clients (the transport's own ms per call): the agent path (login, user
// info, image info, key service, 4 MiB range, report) with a calibration node, and the native path
// (vm.allocate, vm.deploy with enforce, vm.info) with VMs on a dummy host. The dummy drivers' PROLOG
// and BOOT times are recorded under their own names (`*.dummy`): they are not ssh copies or KVM
// boots, so the model keeps its assumptions for one.tm.clone and one.vmm.deploy. Plus the live profile.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { summarizeCalls, type Calibration, type ComplexityProfile } from '../adapters/index.js';
import { CallRecorder } from '../adapters/transport/index.js';
import { EnvironmentError, InputError, quantile, silentLogger, type Logger } from '../common/index.js';
import { OneClient } from './client/api.js';
import { OneNodePlane } from './client/node-plane.js';
import { LCM_STATE, VM_STATE } from './client/schemas.js';
import { OneFleet } from './fleet.js';
import { ensureHosts, registerImage } from './native-run.js';
import { vmTemplateBody } from './native.js';
import { loadFrontEnd, measureLiveProfile } from './server/index.js';

export const CALIBRATED_OPS = ['one.user.login', 'one.user.info', 'one.image.info', 'kms.secret.payload', 'http.image.download_range', 'one.user.update', 'one.vm.allocate', 'one.vm.deploy', 'one.vm.info'] as const;
/** measured, not applied: the dummy drivers' PROLOG and BOOT */
export const DUMMY_OPS = ['one.tm.clone.dummy', 'one.vmm.deploy.dummy'] as const;
export const CALIBRATION_NODE = 'calibration';
export const CALIBRATION_HOST = 'calibration-host';
const CHUNK = 4 * 1024 * 1024;
const CHUNKS = 4;
const WARMUP = 3;

export interface OneCalibrationFile extends Calibration {
  plane: 'opennebula';
  profile?: ComplexityProfile;
}

function durationsOf(name: string, ms: number[]): Calibration['ops'] {
  if (ms.length === 0) return {};
  const s = [...ms].sort((a, b) => a - b);
  const medianUs = Math.max(1, Math.round(quantile(s, 0.5) * 1000));
  return { [name]: { medianUs, p95Us: Math.max(medianUs, Math.round(quantile(s, 0.95) * 1000)), samples: s.length } };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function calibrateOpenNebula(o: { stateDir: string; samples?: number; logger?: Logger; onProgress?: (m: string) => void }): Promise<OneCalibrationFile> {
  const samples = o.samples ?? 30;
  if (!Number.isInteger(samples) || samples < 1 || samples > 10_000) throw new InputError(`--samples must be a whole number from 1 to 10000, got ${samples}`);
  const log = o.logger ?? silentLogger;
  const say = o.onProgress ?? (() => {});
  const { credentials } = loadFrontEnd(o.stateDir);
  const load0 = loadavg();
  const fleet = new OneFleet(o.stateDir);
  const admin = new OneClient({ endpoint: credentials.endpoint, username: credentials.username, password: credentials.password, timeoutMs: 30_000 });
  const work = mkdtempSync(join(tmpdir(), 'edgeplane-one-calibrate-'));
  const recorder = new CallRecorder();
  const vms: number[] = [];
  try {
    await admin.version().catch((err: Error) => {
      throw new EnvironmentError(`no OpenNebula answering at ${credentials.endpoint}: ${err.message}`);
    });
    // ---- agent path ----
    say(`calibration image and node on ${credentials.endpoint}`);
    const raw = join(work, 'image.raw');
    writeFileSync(raw, randomBytes(CHUNKS * CHUNK - 4096));
    const version = `c${Date.now().toString(36)}`;
    const published = await fleet.publish({ source: raw, imageId: 'edgeplane-calibration', version, keysDir: join(work, 'keys'), chunking: { algorithm: 'fixed', size: CHUNK }, logger: log });
    const [enrolled] = await fleet.enroll([CALIBRATION_NODE]);
    await fleet.assign(published.pin, [CALIBRATION_NODE]);
    const cfg = enrolled!.agentPlane as { endpoint: string; edgeUrl: string; username: string; password: string };
    const node = new OneNodePlane(cfg, { recorder });
    const round = async (i: number) => {
      const a = await node.getAssignment();
      if (!a || a.version !== version) throw new EnvironmentError('the calibration node is not pinned to the calibration image');
      const m = await node.getManifest(a);
      await node.getKey(m.keyRef);
      await node.downloadRange(m.blobRef, (i % (CHUNKS - 1)) * CHUNK, CHUNK);
      await node.report({ status: 'RUNNING', image: a });
    };
    await node.login();
    for (let i = 0; i < WARMUP; i++) await round(i);
    recorder.clear();
    say(`measuring ${samples} logins (each revokes the previous token: within oned's 10 per user)`);
    for (let i = 0; i < samples; i++) await node.login();
    say(`measuring ${samples} rounds of user info, image info, key, 4 MiB range, report`);
    for (let i = 0; i < samples; i++) await round(i);
    await node.client.revokeToken();
    node.close();
    const agentRecords = [...recorder.records()];
    recorder.clear();

    // ---- native path ----
    say(`measuring ${samples} native deployments (allocate on hold, deploy with enforce, vm.info to RUNNING)`);
    const hosts = await ensureHosts(admin, [CALIBRATION_HOST]);
    const hostId = hosts.get(CALIBRATION_HOST)!;
    const imageId = await registerImage(admin, 'edgeplane-calibration-native', 64);
    const body = vmTemplateBody(imageId);
    const native = new OneClient({ endpoint: credentials.endpoint, username: credentials.username, password: credentials.password, recorder, timeoutMs: 30_000 });
    const prolog: number[] = [];
    const boot: number[] = [];
    for (let i = 0; i < samples + WARMUP; i++) {
      const id = await native.vmAllocate(`NAME = "calibration-${version}-${i}"\n${body}`, true);
      vms.push(id);
      await native.vmDeploy(id, hostId, true, -1);
      let prologAt: number | null = null;
      let bootAt: number | null = null;
      const deadline = performance.now() + 120_000;
      for (;;) {
        const vm = await native.vmInfo(id);
        const now = performance.now();
        if (vm.STATE === VM_STATE.ACTIVE && vm.LCM_STATE === LCM_STATE.PROLOG && prologAt === null) prologAt = now;
        if (vm.STATE === VM_STATE.ACTIVE && vm.LCM_STATE === LCM_STATE.BOOT && bootAt === null) bootAt = now;
        if (vm.STATE === VM_STATE.ACTIVE && vm.LCM_STATE === LCM_STATE.RUNNING) {
          if (i >= WARMUP) {
            if (prologAt !== null) prolog.push((bootAt ?? now) - prologAt);
            if (bootAt !== null) boot.push(now - bootAt);
          }
          break;
        }
        if (now > deadline) throw new EnvironmentError(`calibration VM ${id} not RUNNING after 120 s`);
        await sleep(10);
      }
      if (i === WARMUP - 1) recorder.clear();
      await admin.vmAction('terminate-hard', id);
    }
    await native.close();
    const ops = { ...summarizeCalls([...agentRecords, ...recorder.records()], CALIBRATED_OPS), ...durationsOf(DUMMY_OPS[0], prolog), ...durationsOf(DUMMY_OPS[1], boot) };
    for (const op of CALIBRATED_OPS) {
      const n = ops[op]?.samples ?? 0;
      if (n < samples) throw new EnvironmentError(`calibration of ${op}: only ${n} successful samples of ${samples}`);
    }
    const load1 = loadavg();
    const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
    const source =
      `measured here: edgeplane calibrate opennebula on the live front-end (OpenNebula 6.10.5 built from source, SQLite, dummy drivers, loopback), ` +
      `host ${availableParallelism()} CPUs (${cpu}), load average ${load0[0]!.toFixed(1)} -> ${load1[0]!.toFixed(1)}, ${samples} samples per op after ${WARMUP} warm-up rounds; ` +
      `login = a new token (the previous one revoked); vm.info = every poll of a deployment to RUNNING; range = 4 MiB from the added byte server; ` +
      `*.dummy = PROLOG/BOOT of the dummy drivers (not applied: the model keeps its ssh/KVM assumptions)`;
    let profile: ComplexityProfile | undefined;
    try {
      profile = measureLiveProfile(o.stateDir, 'native');
    } catch (err) {
      log.info({ err: (err as Error).message }, 'no live profile (not a local front-end)');
    }
    return { plane: 'opennebula', source, ops, ...(profile ? { profile } : {}) };
  } finally {
    for (const id of vms) await admin.vmAction('terminate-hard', id).catch(() => undefined);
    await admin.close();
    await fleet.close();
    rmSync(work, { recursive: true, force: true });
  }
}
