// Calibration: per-op summaries from call records, the file schema, and what a calibration does
// to the openstack model (service times, assumptions, live profile).
import { describe, expect, it } from 'vitest';
import { parseCalibration, type PlaneOptions } from '../../../adapters/index.js';
import type { CallRecord } from '../../../adapters/transport/index.js';
import { quantile } from '../../../common/index.js';
import { summarizeCalls } from '../../../adapters/index.js';
import { CALIBRATED_OPS, openstackProfile } from '../../../control-openstack/index.js';
import { InputError } from '../../../common/index.js';
import { planes } from '../../../planes/index.js';

const BASE: PlaneOptions = { placement: 'pinned', flags: {} };

function rec(op: string, ms: number, extra: Partial<CallRecord> = {}): CallRecord {
  return { op, plane: 'openstack', method: 'GET', path: '/x', url: 'http://x/x', status: 200, bytesOut: 0, bytesIn: 0, ms, attempt: 1, ...extra };
}

describe('summarizeCalls', () => {
  it('median and p95 (type 7) in microseconds of successful first attempts only', () => {
    const records = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((ms) => rec('glance.image.show', ms));
    records.push(rec('glance.image.show', 500, { status: 503 }), rec('glance.image.show', 400, { attempt: 2 }));
    const s = summarizeCalls(records, ['glance.image.show', 'keystone.token.issue']);
    expect(s['glance.image.show']).toEqual({ medianUs: 5500, p95Us: Math.round(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.95) * 1000), samples: 10 });
    expect(s['keystone.token.issue']).toBeUndefined();
  });
});

describe('calibration file', () => {
  const ops = Object.fromEntries(CALIBRATED_OPS.map((op) => [op, { medianUs: 10_000, p95Us: 20_000, samples: 30 }]));
  const file = {
    plane: 'openstack',
    source: 'measured here: test',
    ops,
    profile: { ...openstackProfile(), services: [{ name: 'keystone', processes: 3, memoryMiB: 100, ports: [5000], configLines: 9, source: 'measured here' }] },
  };

  it('validates and replaces service times, assumptions and the profile of the model', () => {
    const c = parseCalibration(JSON.stringify(file), 'cal.json');
    const model = planes.model('openstack', 'agent', { ...BASE, calibration: c });
    expect(model.agentOps('login')[0]!.serviceTime).toEqual({ kind: 'lognormal', medianUs: 10_000, p95Us: 20_000 });
    expect(model.agentOps('report')[0]!.op).toBe('keystone.credential.update');
    expect(model.profile.services).toEqual(file.profile.services);
    const row = model.assumptions!.find((a) => a.name === 'service time of keystone.credential.update')!;
    expect(row.value).toContain('30 samples');
    expect(row.source).toBe('measured here: test');
    // without a calibration: the shipped defaults
    expect(planes.model('openstack', 'agent', BASE).profile).toEqual(openstackProfile());
  });

  it('rejects what is not a calibration (InputError)', () => {
    expect(() => parseCalibration('{', 'a.json')).toThrow(InputError);
    expect(() => parseCalibration(JSON.stringify({ ...file, ops: { x: { medianUs: 2, p95Us: 1, samples: 1 } } }), 'b.json')).toThrow(/b\.json/);
    expect(() => parseCalibration(JSON.stringify({ ...file, profile: { ...file.profile, plane: 'cloudstack' } }), 'c.json')).toThrow(InputError);
    expect(() => planes.model('cloudstack', 'agent', { ...BASE, calibration: parseCalibration(JSON.stringify(file), 'd.json') })).toThrow(InputError);
  });
});
