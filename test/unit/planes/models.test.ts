import { describe, expect, it } from 'vitest';
import { intendedHostProbability, modelAssumptions, type ApiOp, type NativeStep, type PlaneModel, type PlaneOptions } from '../../../adapters/index.js';
import { InputError, NotSupportedError } from '../../../common/index.js';
import { planes } from '../../../planes/index.js';
import { ONE_MEASURED_PLACEMENT } from '../../../control-opennebula/index.js';

const CONTROL_OPS = ['login', 'getAssignment', 'getManifest', 'getKey', 'report'] as const;
const BASE: PlaneOptions = { placement: 'pinned', flags: {} };
/** the planes with a simulation model (the test plane has none) */
const PLANES = planes.simulated.map((d) => d.name);

function allVariants(): { label: string; model: PlaneModel }[] {
  return PLANES.flatMap((plane) =>
    planes.variants(plane).map(({ mode, options }) => ({
      label: `${plane} ${mode} ${JSON.stringify(options)}`,
      model: planes.model(plane, mode, options),
    })),
  );
}

/** Every ApiOp a model can produce (agent ops, data path, token checks, native steps in all cache cases). */
function opsOf(model: PlaneModel): ApiOp[] {
  const ops: ApiOp[] = [model.dataPath.op];
  if (model.tokenValidation) ops.push(model.tokenValidation.op);
  if (model.mode === 'agent') for (const c of CONTROL_OPS) ops.push(...model.agentOps(c));
  for (const siteCache of [false, true]) {
    for (const firstOnSite of [false, true]) {
      for (const s of model.nativeSteps?.({ siteCache, firstOnSite }) ?? []) if ('op' in s) ops.push(s.op);
    }
  }
  return ops;
}

const SOURCE = /^(https?:\/\/\S+|measured|assumed: \S)/;

describe('plane registry', () => {
  it('builds a model for every valid combination, with a coherent mode', () => {
    const variants = allVariants();
    expect(variants.length).toBe(1 + 5 + 5);
    for (const { label, model } of variants) {
      expect(PLANES, label).toContain(model.plane);
      expect(model.profile.plane, label).toBe(model.plane);
      expect(model.nativeSteps === undefined, label).toBe(model.mode === 'agent');
    }
  });

  it('openstack native mode and the scheduler without Nova are not supported', () => {
    expect(() => planes.model('openstack', 'native', BASE)).toThrow(NotSupportedError);
    expect(() => planes.model('openstack', 'agent', { ...BASE, placement: 'scheduler' })).toThrow(NotSupportedError);
  });

  it('rejects options that do not apply to the plane or mode', () => {
    expect(() => planes.model('cloudstack', 'native', { ...BASE, flags: { replicaCache: true } })).toThrow(InputError);
    expect(() => planes.model('opennebula', 'native', { ...BASE, flags: { directDownload: true } })).toThrow(InputError);
    expect(() => planes.model('opennebula', 'agent', { ...BASE, placement: 'scheduler' })).toThrow(InputError);
    expect(() => planes.model('openstack', 'agent', { ...BASE, flags: { replicaCache: true } })).toThrow(InputError);
  });

  it('every op refers to an existing station and has positive service times', () => {
    for (const { label, model } of allVariants()) {
      const names = new Set(model.stations.map((s) => s.name));
      expect(names.size, label).toBe(model.stations.length);
      for (const o of opsOf(model)) {
        expect(names.has(o.station), `${label}: ${o.op} on ${o.station}`).toBe(true);
        expect(o.op, label).toMatch(/^[a-z]+(\.[A-Za-z_]+)+$/);
        const t = o.serviceTime ?? model.stations.find((s) => s.name === o.station)!.serviceTime;
        if (t.kind === 'fixed') expect(t.us).toBeGreaterThan(0);
        else expect(t.p95Us).toBeGreaterThanOrEqual(t.medianUs);
      }
      for (const v of model.tokenValidation?.validatingStations ?? []) expect(names.has(v), `${label}: validating ${v}`).toBe(true);
      for (const s of model.stations) expect(s.workers, `${label}: ${s.name}`).toBeGreaterThan(0);
    }
  });

  it('every default figure has a source that is a URL, a measurement or a stated assumption', () => {
    for (const { label, model } of allVariants()) {
      const rows = modelAssumptions(model);
      expect(rows.length, label).toBeGreaterThan(5);
      for (const r of rows) {
        expect(r.plane).toBe(model.plane);
        expect(r.value.length, `${label}: ${r.name}`).toBeGreaterThan(0);
        expect(r.source, `${label}: ${r.name}`).toMatch(SOURCE);
      }
      for (const s of model.stations) expect(s.source, `${label}: station ${s.name}`).toMatch(SOURCE);
      if (model.dataPath.originThroughput) expect(model.dataPath.originThroughput.source).toMatch(SOURCE);
      // every op's service time is listed
      const listed = new Set(rows.map((r) => r.name));
      for (const o of opsOf(model)) expect(listed.has(`service time of ${o.op}`), `${label}: ${o.op}`).toBe(true);
    }
  });
});

describe('deploySequence', () => {
  it('openstack: login first, the manifest as a second Glance image, one ranged download per chunk, report last (into the node own Keystone credential)', () => {
    const seq = planes.model('openstack', 'agent', BASE).deploySequence({ chunks: 3 });
    expect(seq).toEqual([
      'keystone.token.issue',
      'keystone.project.show',
      'glance.image.show',
      'glance.image.download',
      'barbican.secret.payload',
      'glance.image.download_range',
      'glance.image.download_range',
      'glance.image.download_range',
      'keystone.credential.update',
    ]);
  });

  it('agent modes: exactly one data op per chunk, and the sequence matches agentOps', () => {
    for (const plane of PLANES) {
      const model = planes.model(plane, 'agent', BASE);
      for (const chunks of [0, 1, 7]) {
        const seq = model.deploySequence({ chunks });
        expect(seq.filter((s) => s === model.dataPath.op.op)).toHaveLength(chunks);
        const control = CONTROL_OPS.flatMap((c) => model.agentOps(c).map((o) => o.op));
        expect(seq.length).toBe(control.length + chunks);
        expect(seq.at(-1)).toBe(model.agentOps('report').at(-1)!.op);
      }
    }
  });

  it('cloudstack agent mode: no session, but one signed call at login (the node checks its keys)', () => {
    const model = planes.model('cloudstack', 'agent', BASE);
    expect(model.agentOps('login').map((o) => o.op)).toEqual(['cs.listCapabilities']);
    expect(model.deploySequence({ chunks: 1 }).slice(0, 2)).toEqual(['cs.listCapabilities', 'cs.listTags']);
  });

  it('opennebula native pinned: allocate, deploy on the host, ssh copy, driver deploy, one poll', () => {
    const seq = planes.model('opennebula', 'native', BASE).deploySequence({ chunks: 5 });
    expect(seq).toEqual(['one.vm.allocate', 'one.vm.deploy', 'one.tm.clone', 'one.vmm.deploy', 'one.vm.info']);
  });

  it('opennebula native with the scheduler waits for an mm_sched cycle instead of calling deploy', () => {
    const model = planes.model('opennebula', 'native', { ...BASE, placement: 'scheduler' });
    expect(model.deploySequence({ chunks: 1 })).not.toContain('one.vm.deploy');
    const steps = model.nativeSteps!({ siteCache: false, firstOnSite: true });
    const cycle = steps.find((s): s is Extract<NativeStep, { kind: 'cycle' }> => s.kind === 'cycle' && s.name === 'mm_sched');
    expect(cycle).toMatchObject({ periodUs: 15_000_000, perCycleLimit: 30 });
  });

  it('cloudstack native: deploy, template copy, one job poll; a poll step counts as its polls', () => {
    expect(planes.model('cloudstack', 'native', BASE).deploySequence({ chunks: 2 })).toEqual(['cs.deployVirtualMachine', 'cs.agent.copyTemplateToPrimary', 'cs.queryAsyncJobResult']);
    expect(planes.model('cloudstack', 'native', { ...BASE, flags: { directDownload: true } }).deploySequence({ chunks: 2 })).toContain('cs.agent.directDownload');
  });

  it('rejects a negative or fractional chunk count', () => {
    const model = planes.model('openstack', 'agent', BASE);
    expect(() => model.deploySequence({ chunks: -1 })).toThrow(InputError);
    expect(() => model.deploySequence({ chunks: 1.5 })).toThrow(InputError);
  });
});

describe('native data paths and caches', () => {
  const transfers = (steps: NativeStep[]) => steps.filter((s) => s.kind === 'transfer').map((s) => (s.kind === 'transfer' ? `${s.from}:${s.op.op}` : ''));

  it('opennebula copies from the front-end every time without the replica cache', () => {
    const model = planes.model('opennebula', 'native', BASE);
    expect(model.dataPath.pull).toBe(false);
    for (const siteCache of [false, true]) {
      for (const firstOnSite of [false, true]) {
        expect(transfers(model.nativeSteps!({ siteCache, firstOnSite }))).toEqual(['origin:one.tm.clone']);
      }
    }
  });

  it('opennebula with the replica cache fills the site replica once, then copies over the LAN', () => {
    const model = planes.model('opennebula', 'native', { ...BASE, flags: { replicaCache: true } });
    expect(transfers(model.nativeSteps!({ siteCache: true, firstOnSite: true }))).toEqual(['origin:one.tm.replica_copy', 'siteReplica:one.tm.clone']);
    expect(transfers(model.nativeSteps!({ siteCache: true, firstOnSite: false }))).toEqual(['siteReplica:one.tm.clone']);
    expect(transfers(model.nativeSteps!({ siteCache: false, firstOnSite: false }))).toEqual(['siteReplica:one.tm.clone']);
  });

  it('cloudstack copies a template once per shared primary pool, every time on host-local pools', () => {
    const model = planes.model('cloudstack', 'native', BASE);
    // hosts after the first clone their root volume from the pool's copy over the LAN (and wait for it)
    expect(transfers(model.nativeSteps!({ siteCache: true, firstOnSite: false }))).toEqual(['siteReplica:cs.agent.cloneVolumeFromBaseTemplate']);
    expect(transfers(model.nativeSteps!({ siteCache: false, firstOnSite: false }))).toHaveLength(1);
  });
});

describe('placement', () => {
  it('is certain when pinned and 1/candidates with a scheduler (OpenNebula: the measured rate)', () => {
    for (const plane of PLANES) {
      for (const { mode, options } of planes.variants(plane)) {
        const model = planes.model(plane, mode, options);
        const p = intendedHostProbability(model, 4);
        if (options.placement === 'pinned') expect(p, `${plane} ${mode}`).toBe(1);
        // OpenNebula's rate was measured on the real mm_sched (control-opennebula/model.ts ONE_MEASURED_PLACEMENT)
        else if (plane === 'opennebula') expect(p, `${plane} ${mode}`).toBeCloseTo(ONE_MEASURED_PLACEMENT.intended / ONE_MEASURED_PLACEMENT.deployments);
        else expect(p, `${plane} ${mode}`).toBeCloseTo(0.25);
      }
    }
    const sched = planes.model('cloudstack', 'native', { ...BASE, placement: 'scheduler' });
    expect(intendedHostProbability(sched, 1)).toBe(1);
    expect(() => intendedHostProbability(sched, 0)).toThrow(InputError);
  });
});

describe('calibration', () => {
  const calibration = {
    plane: 'openstack' as const,
    source: 'calibrate run on loopback, bcrypt rounds 4',
    ops: {
      'keystone.token.issue': { medianUs: 41_000, p95Us: 55_000, samples: 200 },
      'glance.image.download_range': { medianUs: 9_000, p95Us: 14_000, samples: 500 },
      'keystone.token.validate': { medianUs: 30_000, p95Us: 45_000, samples: 200 },
    },
  };

  it('overrides the service times of the measured ops only, and says so in the assumptions', () => {
    const plain = planes.model('openstack', 'agent', BASE);
    const model = planes.model('openstack', 'agent', { ...BASE, calibration });
    expect(model.agentOps('login')[0]!.serviceTime).toEqual({ kind: 'lognormal', medianUs: 41_000, p95Us: 55_000 });
    expect(model.dataPath.op.serviceTime).toEqual({ kind: 'lognormal', medianUs: 9_000, p95Us: 14_000 });
    expect(model.tokenValidation!.op.serviceTime).toEqual({ kind: 'lognormal', medianUs: 30_000, p95Us: 45_000 });
    expect(model.agentOps('getKey')).toEqual(plain.agentOps('getKey'));
    expect(plain.agentOps('login')[0]!.serviceTime).not.toEqual(model.agentOps('login')[0]!.serviceTime);
    const row = modelAssumptions(model).find((r) => r.name === 'service time of keystone.token.issue')!;
    expect(row.source).toBe('measured here: calibrate run on loopback, bcrypt rounds 4');
    expect(row.value).toContain('200 samples');
  });

  it('applies to native steps too', () => {
    const model = planes.model('opennebula', 'native', {
      ...BASE,
      calibration: { plane: 'opennebula', source: 'emulator', ops: { 'one.vm.allocate': { medianUs: 7_000, p95Us: 9_000, samples: 50 } } },
    });
    const allocate = model.nativeSteps!({ siteCache: false, firstOnSite: true })[0]!;
    expect(allocate.kind === 'api' && allocate.op.serviceTime).toEqual({ kind: 'lognormal', medianUs: 7_000, p95Us: 9_000 });
  });

  it('rejects a calibration of another plane or with impossible figures', () => {
    expect(() => planes.model('opennebula', 'native', { ...BASE, calibration })).toThrow(InputError);
    const bad = { ...calibration, ops: { 'keystone.token.issue': { medianUs: 10, p95Us: 5, samples: 3 } } };
    expect(() => planes.model('openstack', 'agent', { ...BASE, calibration: bad })).toThrow(InputError);
  });
});

describe('complexity profiles', () => {
  it('native opennebula pushes, cloudstack and agent modes pull; planes without a KMS say so', () => {
    expect(planes.model('opennebula', 'native', BASE).profile.coupling).toBe('push');
    expect(planes.model('cloudstack', 'native', BASE).profile.coupling).toBe('pull');
    for (const plane of PLANES) expect(planes.model(plane, 'agent', BASE).profile.coupling).toBe('pull');
    expect(planes.model('openstack', 'agent', BASE).profile.lacks).not.toContain('kms');
    for (const plane of ['opennebula', 'cloudstack'] as const) {
      for (const { mode, options } of planes.variants(plane)) expect(planes.model(plane, mode, options).profile.lacks).toContain('kms');
    }
  });

  it('lists the expected services with ports and sources', () => {
    const names = (plane: 'openstack' | 'opennebula' | 'cloudstack', mode: 'agent' | 'native', o = BASE) => planes.model(plane, mode, o).profile.services.map((s) => s.name);
    expect(names('openstack', 'agent')).toEqual(['mariadb', 'keystone', 'glance-api', 'barbican-api']);
    expect(names('opennebula', 'native')).toEqual(['oned', 'scheduler (mm_sched)', 'monitord']);
    expect(names('opennebula', 'agent')).toEqual(['oned', 'scheduler (mm_sched)', 'monitord', 'edge services (added)']);
    // measured on the live front-end (control-opennebula/profile.ts ONE_LIVE_PROFILE), not typed in
    for (const s of planes.model('opennebula', 'agent', BASE).profile.services) expect(s.source).toMatch(/^measured here: the live front-end/);
    expect(names('cloudstack', 'native')).toEqual(expect.arrayContaining(['management server', 'secondary storage VM', 'console proxy VM']));
    // an edge zone with direct download has no system VMs
    expect(names('cloudstack', 'native', { ...BASE, flags: { directDownload: true } })).not.toContain('secondary storage VM');
    const mgmt = planes.model('cloudstack', 'native', BASE).profile.services.find((s) => s.name === 'management server')!;
    expect(mgmt.ports).toContain(8250);
  });
});
