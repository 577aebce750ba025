import { describe, expect, it } from 'vitest';
import { decodePin, decodeReport, encodePinTag, encodeReport, KEYSTONE_TAG_MAX, NODE_TAG, planPlacement, tagsWithPin } from '../../../control-openstack/placement.js';

const uuid = '0f8fad5b-d9cb-469f-a165-70867728950e';

describe('pin tag encoding', () => {
  it('round-trips and respects Keystone tag limits', () => {
    const tag = encodePinTag({ imageId: uuid, version: '1.2.3+build.7' });
    expect(tag).toBe(`edgeplane:pin=${uuid}@1.2.3+build.7`);
    expect(tag).not.toMatch(/[/,]/);
    expect(tag.length).toBeLessThanOrEqual(KEYSTONE_TAG_MAX);
    expect(decodePin(['other', tag])).toEqual({ imageId: uuid, version: '1.2.3+build.7' });
  });

  it('refuses versions Keystone or the encoding cannot carry', () => {
    for (const version of ['a/b', 'a,b', 'a@b', '', 'x'.repeat(65), 'sp ace']) expect(() => encodePinTag({ imageId: uuid, version })).toThrow();
  });

  it('no pin is null; two pins or a malformed pin are errors', () => {
    expect(decodePin([NODE_TAG])).toBeNull();
    expect(() => decodePin([encodePinTag({ imageId: uuid, version: '1' }), encodePinTag({ imageId: uuid, version: '2' })])).toThrow(/2 pin tags/);
    expect(() => decodePin(['edgeplane:pin=nover'])).toThrow(/malformed/);
  });

  it('replacing the pin keeps other tags', () => {
    const tags = tagsWithPin(['keep', encodePinTag({ imageId: uuid, version: '1' })], { imageId: uuid, version: '2' });
    expect(tags).toEqual([NODE_TAG, 'keep', encodePinTag({ imageId: uuid, version: '2' })]);
    expect(tagsWithPin(tags, null)).toEqual([NODE_TAG, 'keep']);
  });
});

describe('planPlacement', () => {
  it('the same inputs give the same placement, whatever the order', () => {
    const pins = { n2: { imageId: uuid, version: '1' }, n1: null };
    const a = planPlacement(['n2', 'n1', 'n2'], pins);
    const b = planPlacement(['n1', 'n2'], { n1: null, n2: { imageId: uuid, version: '1' } });
    expect(a).toEqual(b);
    expect(a.map((p) => p.projectName)).toEqual(['edgeplane-node-n1', 'edgeplane-node-n2']);
    expect(a[1]!.pinTag).toBe(encodePinTag({ imageId: uuid, version: '1' }));
  });

  it('rejects bad node ids and pins for unknown nodes', () => {
    expect(() => planPlacement(['Bad_Id'], {})).toThrow();
    expect(() => planPlacement(['n1'], { n9: null })).toThrow(/unknown node/);
  });
});

describe('report blob', () => {
  it('round-trips; garbage decodes to null', () => {
    const r = { status: 'RUNNING' as const, image: { imageId: uuid, version: '1' }, failure: null, seq: 3 };
    expect(decodeReport(encodeReport(r))).toEqual(r);
    expect(decodeReport('nope')).toBeNull();
  });
});
