// `edgeplane calibrate openstack`: measure the service time of every agent-path operation on the
// running stack with the real node client (the transport's own `ms` per call), and the live
// complexity profile, into a calibration file the simulator's model takes instead of its defaults.
// Determinism of the simulations that use it comes from the file: same file ⇒ same results.
import { randomBytes } from 'node:crypto';
import { availableParallelism, cpus } from 'node:os';
import { CallRecorder, DEFAULT_RETRY } from '../adapters/transport/index.js';
import { summarizeCalls, type Calibration, type ComplexityProfile } from '../adapters/index.js';
import { EnvironmentError, InputError, silentLogger, type Logger } from '../common/index.js';
import { OpenStackNodeClient } from './client/node.js';
import { OpenStackOperator, type EnrolledNode, type PublishedImage } from './client/operator.js';
import { imageProperty } from './client/glance.js';
import { IMAGE_PROPS } from './placement.js';
import type { CloudTarget } from './cloud-config.js';
import { openCloudFleet } from './fleet.js';
import { loadStack, measureLiveProfile, type RunningStack } from './server/index.js';

/** The agent-path operations a calibration measures, in the order of one deployment. */
export const CALIBRATED_OPS = [
  'keystone.token.issue',
  'keystone.project.show',
  'glance.image.show',
  'glance.image.download',
  'barbican.secret.payload',
  'glance.image.download_range',
  'keystone.credential.update',
] as const;

export const CALIBRATION_NODE = 'calibration';
export const CALIBRATION_IMAGE = 'edgeplane-calibration';
export const CALIBRATION_IMAGE_VERSION = '1';
/** the ranged download measured: one 4 MiB chunk */
export const CALIBRATION_CHUNK_BYTES = 4 * 1024 * 1024;
/** the blob holds this many chunks, so successive samples read different ranges */
const CALIBRATION_CHUNKS = 4;
/** a manifest of ~100 chunks (JSON, ~16 KiB), the size the model assumes */
const CALIBRATION_MANIFEST_BYTES = 16 * 1024;
const WARMUP_ROUNDS = 4;

export interface CalibrationFile extends Calibration {
  plane: 'openstack';
  /** the live complexity profile (processes, RSS, ports, config lines); replaces the model's */
  profile?: ComplexityProfile;
}

export interface CalibrateOptions {
  stateDir: string;
  /** an existing cloud (clouds.yaml / openrc) instead of the local stack in `stateDir` */
  target?: CloudTarget;
  /** samples per operation (default 30) */
  samples?: number;
  logger?: Logger;
  onProgress?: (message: string) => void;
}

/** The date-free description of where and how a calibration was measured. */
export function calibrationSource(stack: Pick<RunningStack, 'state'>, samples: number): string {
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  return (
    `measured here: edgeplane calibrate openstack on the live stack (Keystone 22/Glance 25/Barbican 15 from Debian packages, loopback, ` +
    `Glance file store), host ${availableParallelism()} CPUs (${cpu}), Keystone password_hash_rounds = ${stack.state.passwordHashRounds}, ` +
    `${samples} samples per op after ${WARMUP_ROUNDS} warm-up rounds; token issue = password login with a fresh token each sample; ` +
    `other ops with a warm token (keystonemiddleware validation modelled separately); ranged download = ${CALIBRATION_CHUNK_BYTES / 1048576} MiB`
  );
}

function operatorFor(stack: RunningStack, recorder?: CallRecorder): OpenStackOperator {
  const { endpoints, admin } = stack;
  return new OpenStackOperator({ authUrl: endpoints.identity, username: admin.username, password: admin.password, projectName: admin.projectName, recorder });
}

/** A calibration of a cloud edgeplane did not start: no process profile, its Keystone URL named. */
export function cloudCalibrationSource(target: CloudTarget, samples: number): string {
  return (
    `measured here: edgeplane calibrate openstack on ${target.source.replace(/ \(.*\)$/, '')} (Keystone ${target.authUrl}), client host ${availableParallelism()} CPUs; ` +
    `${samples} samples per op after ${WARMUP_ROUNDS} warm-up rounds; token issue = password login with a fresh token each sample; ` +
    `other ops with a warm token; ranged download = ${CALIBRATION_CHUNK_BYTES / 1048576} MiB`
  );
}

/** Enroll the calibration node (fresh password each time) and pin it to the calibration image,
 *  publishing that image only when no usable one is pinned already. */
async function prepare(operator: OpenStackOperator, log: Logger): Promise<{ node: EnrolledNode; image: PublishedImage }> {
  const node = await operator.enrollNode(CALIBRATION_NODE);
  const pinned = await operator.assignmentOf(CALIBRATION_NODE);
  if (pinned) {
    try {
      const client = new OpenStackNodeClient(node.config, { retry: DEFAULT_RETRY });
      const m = await client.getManifest(pinned);
      const size = m.image.size ?? 0;
      if (imageProperty(m.image, IMAGE_PROPS.role) === 'image' && size >= CALIBRATION_CHUNKS * CALIBRATION_CHUNK_BYTES) {
        log.info({ image: pinned.imageId }, 'reusing the calibration image');
        return { node, image: { ...pinned, manifestImageId: m.manifestImageId, keySecretId: m.keyRef } };
      }
    } catch (err) {
      log.info({ err: (err as Error).message }, 'pinned calibration image not usable: publishing a new one');
    }
  }
  const image = await operator.publishImage({
    name: CALIBRATION_IMAGE,
    version: CALIBRATION_IMAGE_VERSION,
    image: randomBytes(CALIBRATION_CHUNKS * CALIBRATION_CHUNK_BYTES),
    manifest: randomBytes(CALIBRATION_MANIFEST_BYTES),
    key: randomBytes(32),
  });
  await operator.pin(CALIBRATION_NODE, image);
  return { node, image };
}

/** Measure every op of CALIBRATED_OPS `samples` times on the stack in `stateDir`. */
export async function calibrateOpenStack(opts: CalibrateOptions): Promise<CalibrationFile> {
  const samples = opts.samples ?? 30;
  if (!Number.isInteger(samples) || samples < 1 || samples > 10_000) throw new InputError(`--samples must be a whole number from 1 to 10000, got ${samples}`);
  const log = opts.logger ?? silentLogger;
  const say = opts.onProgress ?? (() => {});
  let stack: RunningStack | null = null;
  let operator: OpenStackOperator;
  if (opts.target) {
    operator = (await openCloudFleet(opts.target)).operator; // prerequisites checked up front
    say(`calibration node and image on ${opts.target.authUrl}`);
  } else {
    try {
      stack = loadStack(opts.stateDir);
    } catch (err) {
      if (err instanceof EnvironmentError) throw err;
      throw new EnvironmentError(`cannot use the OpenStack stack in ${opts.stateDir}: ${(err as Error).message}`);
    }
    operator = operatorFor(stack);
    say(`calibration node and image on ${stack.endpoints.identity}`);
  }
  const { node, image } = await prepare(operator, log);

  const recorder = new CallRecorder();
  // an operator's tool, not an agent: it retries a transient failure (first attempts are what it measures)
  const client = new OpenStackNodeClient(node.config, { recorder, retry: DEFAULT_RETRY });
  const oneRound = async (c: OpenStackNodeClient, i: number): Promise<void> => {
    const a = await c.getAssignment();
    if (!a || a.imageId !== image.imageId) throw new EnvironmentError(`calibration node is not pinned to ${image.imageId}`);
    const m = await c.getManifest(a);
    await c.getKey(m.keyRef);
    await c.downloadRange(image.imageId, (i % CALIBRATION_CHUNKS) * CALIBRATION_CHUNK_BYTES, CALIBRATION_CHUNK_BYTES);
    await c.report({ status: 'RUNNING', image: a, failure: null, seq: i + 1 });
  };
  // warm up worker processes, connections and keystonemiddleware's per-worker token caches
  // with the token the measured rounds use
  await client.login();
  for (let i = 0; i < WARMUP_ROUNDS; i++) await oneRound(client, i);
  recorder.clear();
  say(`measuring ${samples} password logins`);
  for (let i = 0; i < samples; i++) await client.login();
  // the token in use for the rounds below must be warm in the services' caches again
  for (let i = 0; i < WARMUP_ROUNDS; i++) await oneRound(client, i);
  const logins = recorder.records().filter((r) => r.op === 'keystone.token.issue');
  const kept = [...logins];
  recorder.clear();
  say(`measuring ${samples} rounds of project show, image show, manifest, key, 4 MiB range, report`);
  for (let i = 0; i < samples; i++) await oneRound(client, i);
  const records = [...kept, ...recorder.records()];
  const ops = summarizeCalls(records, CALIBRATED_OPS);
  for (const op of CALIBRATED_OPS) {
    const n = ops[op]?.samples ?? 0;
    if (n < samples) throw new EnvironmentError(`calibration of ${op}: only ${n} successful samples of ${samples}`);
  }
  if (!stack) return { plane: 'openstack', source: cloudCalibrationSource(opts.target!, samples), ops };
  const profile = measureLiveProfile(opts.stateDir);
  return { plane: 'openstack', source: calibrationSource(stack, samples), ops, profile };
}
