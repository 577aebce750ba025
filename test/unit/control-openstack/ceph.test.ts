// `up --with-ceph` without the services: the rendered ceph.conf and Glance rbd config, the daemons'
// command lines, per-daemon config line counts, port layout, and the refusals that need no packages.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../common/index.js';
import { cephDaemonArgs, cephSectionsOf, countIniSectionLines, renderCephConf, renderGlanceConf, type ConfigInputs } from '../../../control-openstack/server/configs.js';
import { CEPH_DAEMONS, cephPortsFrom, DEFAULT_PORTS, stackLayout } from '../../../control-openstack/server/layout.js';
import { up } from '../../../control-openstack/server/launcher.js';
import { missingPackages } from '../../../control-openstack/server/packages.js';
import { StackStateSchema } from '../../../control-openstack/server/state.js';

const layout = stackLayout('/srv/st');
const inputs: ConfigInputs = {
  layout,
  ports: DEFAULT_PORTS,
  dbPassword: 'p',
  glancePassword: 'g',
  barbicanPassword: 'b',
  barbicanKek: 'a2VrLWtlay1rZWstMzItYnl0ZXMtMDEyMzQ1Njc4OWFiY2Q=',
  passwordHashRounds: 4,
  workers: 2,
  ceph: { fsid: '11111111-2222-3333-4444-555555555555', osdUuid: '66666666-7777-8888-9999-000000000000', ports: cephPortsFrom(26789), memstoreBytes: 2 * 1024 ** 3 },
};

describe('ceph ports', () => {
  it('derive from one base, clear of each other', () => {
    expect(cephPortsFrom(26789)).toEqual({ monV1: 26789, mon: 26790, rgw: 26791, bindMin: 26800, bindMax: 26899 });
  });
});

describe('ceph.conf', () => {
  const conf = renderCephConf(inputs);

  it('one node on loopback: no cephx, size-1 pools, OSD-level CRUSH, private ports', () => {
    expect(conf).toContain('mon host = [v2:127.0.0.1:26790,v1:127.0.0.1:26789]');
    for (const k of ['cluster', 'service', 'client']) expect(conf).toContain(`auth ${k} required = none`);
    expect(conf).toContain('osd pool default size = 1');
    expect(conf).toContain('osd pool default min size = 1');
    expect(conf).toContain('mon allow pool size one = true');
    expect(conf).toContain('osd crush chooseleaf type = 0');
    expect(conf).toContain('ms bind port min = 26800');
    expect(conf).toContain('ms bind port max = 26899');
    expect(conf).toContain('rgw frontends = beast endpoint=127.0.0.1:26791');
  });

  it('a memstore OSD, capped, that saves on shutdown', () => {
    expect(conf).toMatch(/\[osd\][^[]*osd objectstore = memstore/);
    expect(conf).toContain('memstore device bytes = 2147483648');
    expect(conf).toContain('osd fast shutdown = false');
  });

  it('run dir, admin sockets, logs and data under the state dir', () => {
    expect(conf).toContain('run dir = /srv/st/ceph/run');
    expect(conf).toContain('admin socket = /srv/st/ceph/run/$cluster-$name.asok');
    expect(conf).toContain('log file = /srv/st/logs/ceph-$name.log');
    expect(conf).toContain('mon data = /srv/st/ceph/mon');
    expect(conf).toContain('osd data = /srv/st/ceph/osd');
    expect(conf).not.toMatch(/\/var\/(lib|log|run)\/ceph/);
  });

  it('clients speak crc to the monitor (radosgw defaults to secure mode, impossible without cephx)', () => {
    expect(conf).toMatch(/\[client\]\nadmin socket = \nms mon client mode = crc/);
  });

  it('counts each daemon its own sections', () => {
    const mon = countIniSectionLines(conf, cephSectionsOf('ceph-mon'));
    const global = countIniSectionLines(conf, ['global']);
    expect(mon).toBe(global + 3); // [mon] header, mon data, admin socket
    expect(countIniSectionLines(conf, cephSectionsOf('radosgw'))).toBeGreaterThan(global + 5);
  });
});

describe('Glance on RBD', () => {
  it('uses the rbd backend on the images pool with the stack ceph.conf', () => {
    const glance = renderGlanceConf(inputs);
    expect(glance).toContain('enabled_backends = rbd:rbd');
    expect(glance).toMatch(/\[glance_store\]\ndefault_backend = rbd/);
    expect(glance).toMatch(/\[rbd\]\nrbd_store_pool = images\nrbd_store_ceph_conf = \/srv\/st\/ceph\/ceph.conf\nrbd_store_user = glance/);
    expect(glance).not.toContain('filesystem_store_datadir = /srv/st/glance/images/');
  });

  it('keeps the file store without Ceph', () => {
    const { ceph: _c, ...plain } = inputs;
    expect(renderGlanceConf(plain)).toContain('enabled_backends = file:file');
  });
});

describe('ceph daemons', () => {
  it('run in the foreground with the stack config, so the recorded pid is the daemon', () => {
    for (const d of CEPH_DAEMONS) {
      const { cmd, args } = cephDaemonArgs(inputs, d);
      expect(cmd).toBe(`/usr/bin/${d}`);
      expect(args.slice(0, 3)).toEqual(['-f', '-c', '/srv/st/ceph/ceph.conf']);
    }
    expect(cephDaemonArgs(inputs, 'radosgw').args).toContain('client.rgw.a');
  });

  it('packages: --with-ceph also checks the Ceph binaries and bindings', () => {
    expect(missingPackages(true)).toEqual(expect.arrayContaining(missingPackages(false)));
  });
});

describe('state', () => {
  it('reads a file-store state written before Ceph existed', () => {
    const old = {
      version: 1,
      ports: DEFAULT_PORTS,
      secrets: { adminPassword: 'a', dbPassword: 'd', glancePassword: 'g', barbicanPassword: 'b', barbicanKek: 'k' },
      passwordHashRounds: 4,
      withCeph: false,
      initialized: [],
      pids: { mariadb: 1 },
    };
    expect(StackStateSchema.parse(old).ceph).toBeUndefined();
  });

  it('up --with-ceph refuses a state dir set up on the file store, before touching anything', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeplane-ceph-unit-'));
    try {
      const state = {
        version: 1,
        ports: DEFAULT_PORTS,
        secrets: { adminPassword: 'a', dbPassword: 'd', glancePassword: 'g', barbicanPassword: 'b', barbicanKek: 'k' },
        passwordHashRounds: 4,
        withCeph: false,
        initialized: [],
        pids: {},
      };
      writeFileSync(join(dir, 'stack.json'), JSON.stringify(state));
      const err = await up({ stateDir: dir, withCeph: true }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toMatch(/--with-ceph: the stack in .* was set up with Glance on its file store/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects a memstore cap below 64 MiB', async () => {
    await expect(up({ stateDir: '/nonexistent/never-created', withCeph: true, memstoreBytes: 1024 })).rejects.toBeInstanceOf(InputError);
  });
});
