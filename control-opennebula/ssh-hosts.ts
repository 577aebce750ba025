// Native mode with hosts over ssh (`run --env emulate --plane opennebula`, mode native): the
// emulated fleet's nodes run sshds, the front-end's drivers reach them through the ssh
// configuration (server/ssh-config.ts), and the run's VMs use a system datastore and an image
// datastore on OpenNebula's own `ssh` transfer driver and `fs` datastore driver. PROLOG is then
// src/tm_mad/ssh/clone for real: the image file is tarred on the front-end (an sshd in the
// fleet's origin) and untarred on the host by its sshd, over the fleet's shaped links. The VM
// manager stays the dummy one (no hypervisor boots), so a VM counts as deployed only when its
// disk.0 on the host holds the image's bytes (size and SHA-256 checked).
import { readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { NativeSshFleet } from '../adapters/index.js';
import { EnvironmentError, NotSupportedError, writeRandomFile, type Logger } from '../common/index.js';
import { type OneClient, templateValue } from './client/api.js';
import { IMAGE_STATE, VM_STATE } from './client/schemas.js';
import { FRONTEND_SSH_NAME, sha256File, writeSshConfig, type OneLayout, type OneState } from './server/index.js';

/** The control sockets of one run's multiplexed ssh connections (short: a socket path has at most 107 bytes). */
export const controlDirOf = (tag: string) => join(tmpdir(), 'ep-one-ssh', tag);

export interface SshDatastores {
  systemDs: number;
  imageDs: number;
  imageId: number;
  /** the system datastore's path on every host (BASE_PATH) */
  systemBasePath: string;
  imageBytes: number;
  imageSha256: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The drivers read the ssh configuration only if oned was started with SSH pointing at it (daemonEnv). */
function checkDriversUseConfig(layout: OneLayout, state: OneState): void {
  const pid = state.pids.oned;
  if (pid === undefined) throw new NotSupportedError('hosts over ssh need a front-end edgeplane started (edgeplane up opennebula): an existing front-end (--endpoint) keeps its own ssh set-up');
  let env = '';
  try {
    env = readFileSync(`/proc/${pid}/environ`, 'utf8');
  } catch {
    throw new EnvironmentError(`oned (pid ${pid}) is not running`, [`edgeplane up opennebula --state ${layout.stateDir}`]);
  }
  if (!env.split('\0').includes(`SSH=ssh -F ${layout.sshConfig}`)) {
    throw new EnvironmentError(`oned (pid ${pid}) was started without the drivers' ssh configuration (an older edgeplane): restart it`, [
      `edgeplane down opennebula --state ${layout.stateDir} && edgeplane up opennebula --state ${layout.stateDir}`,
    ]);
  }
}

/** ssh as the drivers run it, for a check before any VM exists. */
async function probe(layout: OneLayout, host: string): Promise<void> {
  const r = await execa('ssh', ['-F', layout.sshConfig, host, 'true'], { reject: false, timeout: 60_000 });
  if (r.exitCode !== 0) throw new EnvironmentError(`the front-end's drivers cannot reach ${host} over ssh: ${(String(r.stderr ?? '') || `exit ${r.exitCode}`).trim().slice(-800)}`);
}

async function waitFor<T>(what: string, timeoutMs: number, poll: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await poll();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new EnvironmentError(`${what} after ${timeoutMs / 1000} s`);
    await sleep(250);
  }
}

/** The ssh configuration for `fleet`, both datastores and the image (a random file of `imageBytes`), READY. */
export async function prepareSshDatastores(
  admin: OneClient,
  fe: { layout: OneLayout; state: OneState },
  fleet: NativeSshFleet,
  o: { tag: string; imageBytes: number; workDir: string; logger: Logger },
): Promise<SshDatastores> {
  checkDriversUseConfig(fe.layout, fe.state);
  writeSshConfig(fe.layout.sshConfig, fleet, controlDirOf(o.tag));
  // what exists so far, removed again when a later step fails
  const made: { systemDs?: number; imageDs?: number; imageId?: number } = {};
  const file = join(o.workDir, 'image.raw');
  try {
    await probe(fe.layout, FRONTEND_SSH_NAME);
    await probe(fe.layout, [...fleet.hosts.keys()][0]!);
    made.systemDs = await admin.datastoreAllocate(`NAME = ${templateValue(`${o.tag}-system`)}\nTYPE = "SYSTEM_DS"\nTM_MAD = "ssh"`);
    // the fs driver copies only from SAFE_DIRS when RESTRICTED_DIRS covers the path (here: /)
    made.imageDs = await admin.datastoreAllocate(`NAME = ${templateValue(`${o.tag}-images`)}\nTYPE = "IMAGE_DS"\nDS_MAD = "fs"\nTM_MAD = "ssh"\nSAFE_DIRS = ${templateValue(o.workDir)}`);
    const imageSha256 = writeRandomFile(file, o.imageBytes);
    const imageId = await admin.imageAllocate(`NAME = ${templateValue(`${o.tag}-image`)}\nPATH = ${templateValue(file)}\nTYPE = "OS"\nFORMAT = "raw"`, made.imageDs, true);
    made.imageId = imageId;
    // the fs driver's cp copies the file into the datastore
    await waitFor(`image ${imageId} not READY`, 300_000, async () => {
      const img = await admin.imageInfo(imageId);
      if (img.STATE === IMAGE_STATE.ERROR) throw new EnvironmentError(`image ${imageId} is in ERROR: ${JSON.stringify(img.TEMPLATE?.ERROR ?? '')}`);
      return img.STATE === IMAGE_STATE.READY ? img : null;
    });
    const systemBasePath = (await admin.datastoreInfo(made.systemDs)).BASE_PATH;
    if (!systemBasePath) throw new EnvironmentError(`system datastore ${made.systemDs} has no BASE_PATH`);
    const ds = { systemDs: made.systemDs, imageDs: made.imageDs, imageId, systemBasePath, imageBytes: o.imageBytes, imageSha256 };
    o.logger.info(ds, 'ssh datastores ready');
    return ds;
  } catch (err) {
    await removeSshDatastores(admin, fe.layout, made, { tag: o.tag, fleet }, o.logger);
    throw err;
  } finally {
    rmSync(file, { force: true });
  }
}

/** What the TM copy left on the host for `vmId`: null when disk.0 holds the image, else why not. */
export async function diskProblem(ds: SshDatastores, vmId: number): Promise<string | null> {
  const disk = join(ds.systemBasePath, String(vmId), 'disk.0');
  let size: number;
  try {
    size = statSync(disk).size;
  } catch {
    return `no ${disk} on the host`;
  }
  if (size !== ds.imageBytes) return `${disk} holds ${size} of ${ds.imageBytes} bytes`;
  if ((await sha256File(disk)) !== ds.imageSha256) return `${disk} differs from the image (SHA-256)`;
  return null;
}

/** Waits until the VMs are DONE (their EPILOG removed the disks on the hosts). */
export async function waitDone(admin: OneClient, vmIds: readonly number[], timeoutMs = 120_000): Promise<void> {
  const left = new Set(vmIds);
  await waitFor(`VMs ${[...left].join(', ')} not DONE`, timeoutMs, async () => {
    for (const id of [...left]) {
      const vm = await admin.vmInfo(id).catch(() => null);
      if (vm === null || vm.STATE === VM_STATE.DONE) left.delete(id);
    }
    return left.size === 0 ? true : null;
  });
}

/** Removes the image (the fs driver deletes its file), then both datastores (those given); the ssh configuration names no hosts again. */
export async function removeSshDatastores(admin: OneClient, layout: OneLayout, ds: { systemDs?: number; imageDs?: number; imageId?: number }, run: { tag: string; fleet: NativeSshFleet }, log: Logger): Promise<void> {
  const warn = (what: string) => (err: Error) => log.warn({ err: err.message, ...ds }, what);
  try {
    const imageId = ds.imageId;
    if (imageId !== undefined) {
      await admin.imageDelete(imageId, true).catch(warn('image delete'));
      await waitFor(`image ${imageId} not deleted`, 60_000, async () => ((await admin.imagePool()).some((i) => i.ID === imageId) ? null : true)).catch(warn('image delete'));
    }
    for (const id of [ds.imageDs, ds.systemDs]) if (id !== undefined) await admin.datastoreDelete(id).catch(warn('datastore delete'));
  } finally {
    // the multiplexing masters the drivers' ssh left (ControlPersist), before the hosts go
    await Promise.all([FRONTEND_SSH_NAME, ...run.fleet.hosts.keys()].map((h) => execa('ssh', ['-F', layout.sshConfig, '-O', 'exit', h], { reject: false, timeout: 10_000 })));
    writeSshConfig(layout.sshConfig, null);
    rmSync(controlDirOf(run.tag), { recursive: true, force: true });
  }
}
