// `up opennebula --prefix` on a system-wide installation, the layout of OpenNebula's packages
// (/usr/bin/oned, /etc/one, /usr/lib/one, /var/lib/one/remotes, /usr/share/one): OpenNebula's own
// install.sh (no -d, DESTDIR=a temp root) installs the build cache's programs into a temp root
// (scripts/install-opennebula.sh --install-system, through ensureBuild); `up --prefix ROOT` (port base
// TEST_PORTS+60) and `up --prefix ROOT/usr` (+80) each assemble their own prefix in their state folder,
// answer 6.10.5 and run a VM to RUNNING on a dummy host; `down` stops everything; no file of the
// installation is written (a checksum listing before and after). A self-contained prefix (a copy of
// the cache's `install.sh -d` prefix, +64) goes the same way. Without the build cache (or a build
// from ../shared/vendor) it fails.
import { createHash } from 'node:crypto';
import { cpSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../common/index.js';
import {
  commandLine,
  defaultSource,
  detectInstallation,
  down,
  ensureBuild,
  isRunning,
  loadFrontEnd,
  OneClient,
  oneLayout,
  poolHosts,
  processesMatching,
  registerImage,
  rollOut,
  status,
  vmTemplateBody,
} from '../../../control-opennebula/index.js';
import { START_TIMEOUT_MS, startFrontEnd, type TestFrontEnd } from './frontend.js';

let work: string;
let root: string;
let before: string[];
let selfContained: string;
let beforeSelfContained: string[];

/** every entry under `dir`: path, type, mode, owner, size, mtime, and the content's sha256 or the link's target */
function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    const abs = join(dir, rel);
    const st = lstatSync(abs);
    const head = `${rel || '.'} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.mtimeMs}`;
    if (st.isSymbolicLink()) out.push(`${head} -> ${readlinkSync(abs)}`);
    else if (st.isFile()) out.push(`${head} ${createHash('sha256').update(readFileSync(abs)).digest('hex')}`);
    else {
      out.push(`${head} dir`);
      for (const e of readdirSync(abs).sort()) walk(join(rel, e));
    }
  };
  walk('');
  return out;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'edgeplane-one-system-'));
  root = join(work, 'root');
  const cache = await ensureBuild(defaultSource(), { log: silentLogger, onProgress: () => {}, logFile: join(work, 'install.log'), installSystemUnder: root });
  before = listing(root);
  selfContained = join(work, 'one-location');
  cpSync(cache.prefix, selfContained, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
  beforeSelfContained = listing(selfContained);
}, START_TIMEOUT_MS);
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** a front-end from `prefix`: the API, a VM on a dummy host to RUNNING with the installation moved away (the state folder's copy is what runs), then down */
async function frontEndFrom(prefix: string, offset: number, installation = root, from = `the system-wide installation under ${root}`): Promise<void> {
  let fe: TestFrontEnd | undefined;
  try {
    fe = await startFrontEnd(offset, 1, { prefix });
    const { state } = loadFrontEnd(fe.stateDir);
    const l = oneLayout(fe.stateDir);
    expect(state.mode).toBe('prefix');
    expect(state.prefixFrom).toBe(from);
    const st = await status(fe.stateDir);
    expect(st.version).toBe('6.10.5');
    expect(st.daemons.every((d) => d.running)).toBe(true);
    // oned and mm_sched are the state folder's copies; nothing runs from the installation
    expect(commandLine(state.pids.oned!)?.split(' ')[0]).toBe(join(l.prefix, 'bin', 'oned'));
    expect(commandLine(state.pids.mm_sched!)?.split(' ')[0]).toBe(join(l.prefix, 'bin', 'mm_sched'));
    expect(processesMatching(`${installation}/`)).toEqual([]);

    const admin = new OneClient({ ...fe.credentials });
    renameSync(installation, `${installation}.away`);
    try {
      const [host] = await poolHosts(admin, [`sys-${offset}-host`], `sys-${offset}`);
      const image = await registerImage(admin, `sys-${offset}-image`, 64);
      const [d] = await rollOut({
        ...fe.credentials,
        targets: [{ node: 'n0', hostId: host!, vmName: `sys-${offset}-${Date.now()}` }],
        placement: 'pinned',
        vmTemplate: vmTemplateBody(image),
        t0: performance.now(),
        timeoutMs: 180_000,
      });
      expect(d!.outcome, d!.reason).toBe('running');
      expect(d!.intended).toBe(true);
      expect(d!.states.at(-1)?.state).toBe('ACTIVE/RUNNING');
    } finally {
      renameSync(`${installation}.away`, installation);
      await admin.close();
    }

    const stopped = await down(fe.stateDir);
    expect(stopped.map((s) => s.name)).toEqual(expect.arrayContaining(['oned', 'mm_sched', 'edge-services']));
    for (const pid of Object.values(state.pids)) expect(isRunning(pid, fe.stateDir)).toBe(false);
    expect(processesMatching(`${l.prefix}/`)).toEqual([]);
    expect(processesMatching(l.remoteScripts)).toEqual([]);
    expect((await status(fe.stateDir)).api.healthy).toBe(false);
  } finally {
    await fe?.release();
  }
}

describe('up opennebula --prefix on a system-wide installation (install.sh without -d)', () => {
  it('install.sh put it in the packages’ places; --prefix ROOT and --prefix ROOT/usr both find it', () => {
    for (const f of [
      'usr/bin/oned',
      'usr/bin/mm_sched',
      'usr/lib/one/mads/onemonitord',
      'usr/lib/one/ruby/opennebula.rb',
      'etc/one/oned.conf',
      'var/lib/one/remotes/im/dummy.d/monitord-client_control.sh',
      'usr/share/one',
    ]) {
      expect(
        before.some((line) => line.startsWith(`${f} `)),
        f,
      ).toBe(true);
    }
    expect(detectInstallation(root)).toMatchObject({ kind: 'system', root });
    expect(detectInstallation(join(root, 'usr'))).toMatchObject({ kind: 'system', root });
  });
  it('--prefix ROOT: API 6.10.5, a VM RUNNING on a dummy host, down stops everything', () => frontEndFrom(root, 60), START_TIMEOUT_MS);
  it('--prefix ROOT/usr: the same', () => frontEndFrom(join(root, 'usr'), 80), START_TIMEOUT_MS);
  it('the installation is unchanged: no file written, added or removed', () => {
    const after = listing(root);
    expect(after.filter((l) => !before.includes(l))).toEqual([]);
    expect(before.filter((l) => !after.includes(l))).toEqual([]);
  });
});

describe('up opennebula --prefix on a self-contained prefix (install.sh -d DIR)', () => {
  it(
    'API 6.10.5, a VM RUNNING on a dummy host, down stops everything; the prefix is unchanged',
    async () => {
      expect(detectInstallation(selfContained)).toMatchObject({ kind: 'self-contained', root: selfContained });
      await frontEndFrom(selfContained, 64, selfContained, selfContained);
      expect(listing(selfContained)).toEqual(beforeSelfContained);
    },
    START_TIMEOUT_MS,
  );
});
