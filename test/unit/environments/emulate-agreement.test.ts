// The agreement check's pure parts: the simulator's calibration from the stand-in's calls, the comparison rows.
import { describe, expect, it } from 'vitest';
import { agreementMarkdown, compareRuns, standInCalibration } from '../../../environments/emulate/index.js';
import { planes } from '../../../planes/index.js';

describe('standInCalibration', () => {
  it('takes the path round trip off each call and maps the stand-in ops onto the plane model ops', () => {
    const calls = [
      ...[30, 32, 34, 36, 80].map((ms) => ({ op: 'test-plane.login', ms, oneWayUs: 10_000 })),
      ...[21, 22, 23].map((ms) => ({ op: 'test-plane.assignment.show', ms, oneWayUs: 10_000 })),
      { op: 'test-plane.key.show', ms: 5, oneWayUs: 10_000 },
    ];
    const c = standInCalibration('openstack', calls, 'test')!;
    expect(c.plane).toBe('openstack');
    expect(c.ops['keystone.token.issue']).toEqual({ medianUs: 14_000, p95Us: expect.any(Number), samples: 5 });
    expect(c.ops['keystone.token.issue']!.p95Us).toBeGreaterThan(14_000);
    expect(c.ops['keystone.project.show']!.medianUs).toBe(2_000);
    // a call faster than its round trip (clock noise) is floored, never negative
    expect(c.ops['barbican.secret.payload']!.medianUs).toBe(100);
    // ops the stand-in does not have cost the floor; unmeasured ones are left to the model
    expect(c.ops['glance.image.show']!.medianUs).toBe(100);
    expect(c.ops['glance.image.download']).toBeUndefined();
    // the registry accepts it as a calibration of the openstack model
    expect(() => planes.model('openstack', 'agent', { placement: 'pinned', flags: {}, calibration: c })).not.toThrow();
    expect(standInCalibration('cloudstack', calls, 'x')).toBeNull();
  });
});

describe('compareRuns', () => {
  it('gives makespan and p50 rows with the signed difference and the verdict', () => {
    const rows = compareRuns(
      [{ plane: 'openstack', strategy: 'origin', metrics: { makespan: 100, deploy_latency_p50: 50 } }],
      [{ plane: 'openstack', strategy: 'origin', metrics: { makespan: 108, deploy_latency_p50: 44 } }],
      10,
    );
    expect(rows.map((r) => [r.metric, r.sim, r.emulate, Math.round(r.diffPct * 1e6) / 1e6, r.within])).toEqual([
      ['makespan', 100, 108, 8, true],
      ['deploy_latency_p50', 50, 44, -12, false],
    ]);
    const md = agreementMarkdown({ scenario: 's', rows, tolerancePct: 10, notes: ['n'] });
    expect(md).toContain('| openstack | origin | makespan | 100.00 s | 108.00 s | +8.0% | yes |');
    expect(md).toContain('| -12.0% | NO |');
  });
});
