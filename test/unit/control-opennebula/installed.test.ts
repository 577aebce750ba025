// `up opennebula --prefix DIR`: which layout DIR is (self-contained `install.sh -d`, or system-wide
// as OpenNebula's packages install it, through its root or its usr folder), the errors that name
// what is missing, and the copies that assemble a ONE_LOCATION prefix from a system-wide tree.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvironmentError, EXIT, InputError, silentLogger } from '../../../common/index.js';
import { assemblyPlan, detectInstallation, installationId, oneProgramsIn, REQUIRED_FILES, SYSTEM_PLACES, up } from '../../../control-opennebula/index.js';

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'ep-one-installed-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function touch(file: string, text = '# ONE_LOCATION\n'): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}

/** the prefix-relative file `rel` at its place in a system-wide tree */
function systemPath(root: string, rel: string): string {
  const place = (Object.keys(SYSTEM_PLACES) as (keyof typeof SYSTEM_PLACES)[]).find((p) => rel.startsWith(`${p}/`))!;
  return join(root, SYSTEM_PLACES[place], rel.slice(place.length + 1));
}

function selfContained(name: string, without: string[] = []): string {
  const dir = join(work, name);
  for (const rel of REQUIRED_FILES) if (!without.includes(rel)) touch(join(dir, rel));
  return dir;
}

function systemWide(name: string, without: string[] = []): string {
  const root = join(work, name);
  for (const rel of REQUIRED_FILES) if (!without.includes(rel)) touch(systemPath(root, rel));
  return root;
}

function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('detectInstallation', () => {
  it('a self-contained prefix (install.sh -d DIR): its files are DIR/<rel>', () => {
    const dir = selfContained('sc');
    const inst = detectInstallation(dir);
    expect(inst).toMatchObject({ kind: 'self-contained', root: dir });
    expect(inst.pathOf('var/remotes/im')).toBe(join(dir, 'var/remotes/im'));
    expect(installationId(inst)).toBe(dir);
  });
  it('a system-wide installation, through its root and through its usr folder: each ONE_LOCATION folder at its packaged place', () => {
    const root = systemWide('sys');
    for (const given of [root, join(root, 'usr'), `${root}/usr/`]) {
      const inst = detectInstallation(given);
      expect(inst).toMatchObject({ kind: 'system', root });
      expect(inst.pathOf('bin/oned')).toBe(join(root, 'usr/bin/oned'));
      expect(inst.pathOf('lib/ruby/opennebula.rb')).toBe(join(root, 'usr/lib/one/ruby/opennebula.rb'));
      expect(inst.pathOf('etc/oned.conf')).toBe(join(root, 'etc/one/oned.conf'));
      expect(inst.pathOf('var/remotes/im/dummy.d/x')).toBe(join(root, 'var/lib/one/remotes/im/dummy.d/x'));
      expect(inst.pathOf('share/schemas')).toBe(join(root, 'usr/share/one/schemas'));
      expect(installationId(inst)).toBe(`the system-wide installation under ${root}`);
    }
  });
  it('a merged-/usr root (bin -> usr/bin, so bin/oned exists but no etc/oned.conf) is system-wide, not self-contained', () => {
    const root = systemWide('merged');
    symlinkSync('usr/bin', join(root, 'bin'));
    expect(existsSync(join(root, 'bin', 'oned'))).toBe(true);
    expect(detectInstallation(root).kind).toBe('system');
  });
  it('no such directory, or a file: InputError (exit 2)', () => {
    const missing = thrown(() => detectInstallation(join(work, 'nowhere')));
    expect(missing).toBeInstanceOf(InputError);
    expect(missing.message).toBe(`--prefix ${join(work, 'nowhere')}: no such directory`);
    touch(join(work, 'a-file'));
    expect(thrown(() => detectInstallation(join(work, 'a-file'))).message).toMatch(/: not a directory$/);
  });
  it('neither layout: InputError naming what each layout has and how to give a system-wide one', () => {
    const dir = join(work, 'empty');
    mkdirSync(dir);
    const err = thrown(() => detectInstallation(dir)) as InputError;
    expect(err).toBeInstanceOf(InputError);
    expect(err.exitCode).toBe(EXIT.INVALID_INPUT);
    expect(err.message).toBe(`--prefix ${dir}: no OpenNebula installation there`);
    expect(err.details.join('\n')).toContain(`${dir}/bin/oned and ${dir}/etc/oned.conf`);
    expect(err.details.join('\n')).toContain(`${dir}/usr/bin/oned and ${dir}/etc/one/oned.conf`);
    expect(err.details.join('\n')).toContain('--prefix /usr');
  });
  it('an empty usr folder is neither layout either (its root is named in the hint)', () => {
    const usr = join(work, 'bare', 'usr');
    mkdirSync(usr, { recursive: true });
    const err = thrown(() => detectInstallation(usr)) as InputError;
    expect(err).toBeInstanceOf(InputError);
    expect(err.details.join('\n')).toContain(`${join(work, 'bare')}/usr/bin/oned`);
  });
  it('a system-wide installation that lacks parts: EnvironmentError (exit 3) naming every missing file at its system path', () => {
    const root = systemWide('sys-partial', ['bin/mm_sched', 'etc/sched.conf', 'var/remotes/im/dummy.d/monitord-client_control.sh']);
    const err = thrown(() => detectInstallation(root)) as EnvironmentError;
    expect(err).toBeInstanceOf(EnvironmentError);
    expect(err.exitCode).toBe(EXIT.ENVIRONMENT);
    expect(err.message).toBe(
      `--prefix ${root}: the system-wide OpenNebula under ${root} lacks ${join(root, 'usr/bin/mm_sched')}, ${join(root, 'etc/one/sched.conf')}, ${join(root, 'var/lib/one/remotes/im/dummy.d/monitord-client_control.sh')}`,
    );
    expect(err.details.join('\n')).toContain('packages');
  });
  it('only the CLI/config of a system-wide installation (etc/one/oned.conf, no oned): EnvironmentError naming usr/bin/oned', () => {
    const root = join(work, 'sys-etc-only');
    touch(join(root, 'etc/one/oned.conf'));
    const err = thrown(() => detectInstallation(root));
    expect(err).toBeInstanceOf(EnvironmentError);
    expect(err.message).toContain(join(root, 'usr/bin/oned'));
  });
  it('a self-contained prefix without the Ruby OCA: EnvironmentError naming DIR/lib/ruby/opennebula.rb', () => {
    const dir = selfContained('sc-partial', ['lib/ruby/opennebula.rb']);
    const err = thrown(() => detectInstallation(dir));
    expect(err).toBeInstanceOf(EnvironmentError);
    expect(err.message).toBe(`--prefix ${dir}: the self-contained OpenNebula prefix ${dir} lacks ${join(dir, 'lib/ruby/opennebula.rb')}`);
  });
});

describe('assemblyPlan', () => {
  it('self-contained: the whole prefix', () => {
    const dir = selfContained('sc-plan');
    expect(assemblyPlan(detectInstallation(dir))).toEqual({ copies: [{ into: '.', sources: ['bin', 'etc', 'lib', 'var'].map((e) => join(dir, e)) }], dirs: [] });
  });
  it('system-wide: OpenNebula’s programs of usr/bin, usr/lib/one without the web UIs, etc/one, var/lib/one/remotes only, usr/share/one; var folders made empty', () => {
    const root = systemWide('sys-plan');
    touch(join(root, 'usr/bin/onevm'), '#!/usr/bin/env ruby\nONE_LOCATION = ENV["ONE_LOCATION"]\n');
    touch(join(root, 'usr/bin/one'), '#!/bin/bash\nif [ -z "$ONE_LOCATION" ]; then\n');
    touch(join(root, 'usr/bin/onedrive'), 'an unrelated program');
    touch(join(root, 'usr/bin/ls'), 'ELF');
    touch(join(root, 'usr/lib/one/sunstone/app.js'));
    touch(join(root, 'usr/lib/one/fireedge/dist.js'));
    touch(join(root, 'usr/lib/one/sh/scripts_common.sh'));
    touch(join(root, 'var/lib/one/one.db'), 'the user’s database');
    touch(join(root, 'var/lib/one/datastores/1/disk.0'), 'an image');
    touch(join(root, 'usr/share/one/schemas/x.xsd'));
    const plan = assemblyPlan(detectInstallation(root));
    const into = Object.fromEntries(plan.copies.map((c) => [c.into, c.sources.map((s) => s.slice(root.length + 1))]));
    expect(into).toEqual({
      bin: ['usr/bin/mm_sched', 'usr/bin/one', 'usr/bin/oned', 'usr/bin/onevm'],
      lib: ['usr/lib/one/mads', 'usr/lib/one/ruby', 'usr/lib/one/sh'],
      etc: ['etc/one/monitord.conf', 'etc/one/oned.conf', 'etc/one/sched.conf'],
      var: ['var/lib/one/remotes'],
      share: ['usr/share/one/schemas'],
    });
    expect(plan.dirs).toEqual(expect.arrayContaining(['var/lock', 'var/run', 'var/vms', 'var/datastores/0', 'var/datastores/1']));
  });
  it('oneProgramsIn reads only one* files and keeps those that read ONE_LOCATION', () => {
    const bin = join(work, 'bin-only');
    touch(join(bin, 'oneuser'), 'ONE_LOCATION');
    touch(join(bin, 'oneliner'), 'nothing of OpenNebula');
    mkdirSync(join(bin, 'onedir'));
    touch(join(bin, 'mm_sched'), 'ELF');
    expect(oneProgramsIn(bin).map((f) => f.slice(bin.length + 1))).toEqual(['mm_sched', 'oneuser']);
    expect(oneProgramsIn(join(work, 'no-bin'))).toEqual([]);
  });
});

describe('up opennebula --prefix with a wrong DIR', () => {
  it('fails with the InputError before anything is written to the state folder', async () => {
    const dir = join(work, 'up-empty');
    mkdirSync(dir);
    const stateDir = join(work, 'up-state');
    await expect(up({ stateDir, prefix: dir, port: 46098, logger: silentLogger, onProgress: () => {} })).rejects.toThrow(`--prefix ${dir}: no OpenNebula installation there`);
    expect(existsSync(stateDir)).toBe(false);
  });
  it('the CLI prints the message and what each layout has (no stack) and exits 2', () => {
    const cli = join(process.cwd(), 'dist', 'cli', 'main.js');
    expect(existsSync(cli), `${cli}: npm run build first`).toBe(true);
    const dir = join(work, 'cli-empty');
    mkdirSync(dir);
    const r = spawnSync(process.execPath, [cli, 'up', 'opennebula', '--prefix', dir, '--state', join(work, 'cli-state'), '--port', '46098'], { encoding: 'utf8' });
    expect(r.status).toBe(EXIT.INVALID_INPUT);
    expect(r.stderr).toContain(`edgeplane: --prefix ${dir}: no OpenNebula installation there`);
    expect(r.stderr).toContain('--prefix /usr');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
