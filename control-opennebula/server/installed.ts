// An installed OpenNebula given with `up opennebula --prefix DIR`, in either of the two layouts its
// install.sh makes: self-contained (`install.sh -d DIR`: DIR/bin, DIR/lib, DIR/etc, DIR/var/remotes,
// DIR/share, what oned uses when ONE_LOCATION is set) or system-wide (OpenNebula's packages, install.sh
// without -d under DESTDIR: /usr/bin, /usr/lib/one, /etc/one, /var/lib/one/remotes, /usr/share/one,
// what oned uses when it is not). The programs are the same in both (NebulaService.h, Scheduler.cc
// and the Ruby drivers choose their paths from ONE_LOCATION at run time), so the state folder's prefix
// is assembled from a system-wide installation with each folder in its ONE_LOCATION place and oned
// runs from it with ONE_LOCATION set. Nothing of the installation is written or started.
import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { EnvironmentError, InputError } from '../../common/index.js';
import { STOCK_FILES } from './layout.js';

export type InstallKind = 'self-contained' | 'system';

/** where each ONE_LOCATION folder of the prefix is in a system-wide installation (install.sh's *_LOCATION without -d) */
export const SYSTEM_PLACES = {
  bin: 'usr/bin',
  lib: 'usr/lib/one',
  etc: 'etc/one',
  'var/remotes': 'var/lib/one/remotes',
  share: 'usr/share/one',
} as const;
type Place = keyof typeof SYSTEM_PLACES;

/** what the front-end needs, as paths in the prefix (the daemons, the dummy drivers, the Ruby OCA, the configs `up` rewrites) */
export const REQUIRED_FILES = ['bin/oned', 'bin/mm_sched', 'lib/mads/onemonitord', 'lib/mads/one_vmm_dummy', 'lib/mads/one_im_exec', 'lib/ruby/opennebula.rb', ...STOCK_FILES] as const;

/** lib/ folders the front-end does not run (the web UIs: ~40 MB in a build, more in the packages) */
const SKIPPED_LIB = new Set(['sunstone', 'fireedge']);

export interface Installation {
  kind: InstallKind;
  /** the prefix (self-contained) or the root the system-wide paths are under (`/` for the packages) */
  root: string;
  /** the prefix's file `rel` (bin/oned, var/remotes/...) in this installation */
  pathOf(rel: string): string;
}

function installation(kind: InstallKind, root: string): Installation {
  if (kind === 'self-contained') return { kind, root, pathOf: (rel) => join(root, rel) };
  return {
    kind,
    root,
    pathOf(rel) {
      const place = (Object.keys(SYSTEM_PLACES) as Place[]).find((p) => rel === p || rel.startsWith(`${p}/`));
      if (!place) throw new Error(`no system-wide place for ${rel}`);
      return join(root, SYSTEM_PLACES[place], rel.slice(place.length + 1));
    },
  };
}

/** a self-contained prefix known to be one (the build cache's) */
export const selfContainedPrefix = (root: string): Installation => installation('self-contained', resolve(root));

const readable = (file: string) => {
  try {
    accessSync(file, constants.R_OK);
    return true;
  } catch {
    return false;
  }
};

/**
 * The installation at `dir` (--prefix): self-contained when DIR/bin/oned and DIR/etc/oned.conf are
 * there; system-wide when DIR/usr/bin/oned or DIR/etc/one/oned.conf is (DIR is its root), or when DIR
 * is such a root's usr folder (`--prefix /usr`). InputError when DIR is neither, EnvironmentError
 * naming what a recognised installation lacks or does not let this user read.
 */
export function detectInstallation(dir: string): Installation {
  const abs = resolve(dir);
  if (!existsSync(abs)) throw new InputError(`--prefix ${abs}: no such directory`);
  if (!statSync(abs).isDirectory()) throw new InputError(`--prefix ${abs}: not a directory`);
  let found: Installation | undefined;
  // self-contained first: on a merged-/usr system /bin/oned is /usr/bin/oned, but / has no etc/oned.conf
  if (existsSync(join(abs, 'bin', 'oned')) && existsSync(join(abs, 'etc', 'oned.conf'))) found = installation('self-contained', abs);
  else if (existsSync(join(abs, 'usr', 'bin', 'oned')) || existsSync(join(abs, 'etc', 'one', 'oned.conf'))) found = installation('system', abs);
  else if (basename(abs) === 'usr' && (existsSync(join(abs, 'bin', 'oned')) || existsSync(join(abs, 'lib', 'one')))) found = installation('system', dirname(abs));
  if (!found) {
    const root = basename(abs) === 'usr' ? dirname(abs) : abs;
    throw new InputError(`--prefix ${abs}: no OpenNebula installation there`, [
      `a self-contained one (install.sh -d DIR) has ${join(abs, 'bin', 'oned')} and ${join(abs, 'etc', 'oned.conf')}`,
      `a system-wide one (OpenNebula's packages) has ${join(root, 'usr', 'bin', 'oned')} and ${join(root, 'etc', 'one', 'oned.conf')}: give its root (--prefix /) or its usr folder (--prefix /usr)`,
    ]);
  }
  const missing: string[] = [];
  const unreadable: string[] = [];
  for (const rel of REQUIRED_FILES) {
    const file = found.pathOf(rel);
    if (!existsSync(file)) missing.push(file);
    else if (!readable(file)) unreadable.push(file);
  }
  const what = found.kind === 'system' ? `the system-wide OpenNebula under ${found.root}` : `the self-contained OpenNebula prefix ${found.root}`;
  if (missing.length > 0) {
    throw new EnvironmentError(`--prefix ${abs}: ${what} lacks ${missing.join(', ')}`, [
      'the front-end needs oned, mm_sched, onemonitord, the dummy drivers, the Ruby OCA and the stock oned.conf, monitord.conf and sched.conf of OpenNebula 6.10',
      ...(found.kind === 'system'
        ? ["the places are those of OpenNebula's install.sh without -d, which its own packages use (the server package and its Ruby libraries); a distribution that moves them elsewhere is not this layout"]
        : []),
    ]);
  }
  if (unreadable.length > 0) throw new EnvironmentError(`--prefix ${abs}: this user cannot read ${unreadable.join(', ')}`, ['run as a user who can (e.g. in the oneadmin group), or as root']);
  return found;
}

/** one `cp -a SOURCES... PREFIX/into/` of the assembly */
export interface CopyStep {
  into: string;
  sources: string[];
}

/** the copies that make a self-contained prefix of `inst`, and the empty var/ folders oned needs */
export function assemblyPlan(inst: Installation): { copies: CopyStep[]; dirs: string[] } {
  const entries = (d: string) => (existsSync(d) ? readdirSync(d).sort() : []);
  if (inst.kind === 'self-contained') return { copies: [{ into: '.', sources: entries(inst.root).map((e) => join(inst.root, e)) }], dirs: [] };
  const at = (p: Place) => join(inst.root, SYSTEM_PLACES[p]);
  const copies: CopyStep[] = [
    { into: 'bin', sources: oneProgramsIn(at('bin')) },
    {
      into: 'lib',
      sources: entries(at('lib'))
        .filter((e) => !SKIPPED_LIB.has(e))
        .map((e) => join(at('lib'), e)),
    },
    { into: 'etc', sources: entries(at('etc')).map((e) => join(at('etc'), e)) },
    { into: 'var', sources: [at('var/remotes')] },
    { into: 'share', sources: entries(at('share')).map((e) => join(at('share'), e)) },
  ];
  // the folders an `install.sh -d` prefix has under var/ (oned creates var/lock/.lock, the VMs' folders in var/vms)
  return { copies: copies.filter((c) => c.sources.length > 0), dirs: ['var/lock', 'var/run', 'var/vms', 'var/datastores/0', 'var/datastores/1'] };
}

/**
 * OpenNebula's programs in a shared bin folder (/usr/bin holds everything else too): oned and
 * mm_sched, and the CLI (`one`, `one*`), which, like every OpenNebula program, reads ONE_LOCATION.
 */
export function oneProgramsIn(binDir: string): string[] {
  const out: string[] = [];
  for (const name of existsSync(binDir) ? readdirSync(binDir).sort() : []) {
    const file = join(binDir, name);
    if (name === 'oned' || name === 'mm_sched') out.push(file);
    else if (/^one[a-z-]*$/.test(name) && statSync(file).isFile() && readable(file) && readFileSync(file).includes('ONE_LOCATION')) out.push(file);
  }
  return out;
}

/** how the state file records the source of the prefix: the same installation through `/` or `/usr` is one source */
export const installationId = (inst: Installation) => (inst.kind === 'system' ? `the system-wide installation under ${inst.root}` : inst.root);
