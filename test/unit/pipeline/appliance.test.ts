// The part of the appliance tests that needs no system package; building an appliance needs
// busybox-static, so those tests are in test/integration/pipeline/appliance.test.ts.
import { describe, expect, it } from 'vitest';
import { readApplianceHeader } from '../../../pipeline/index.js';
import { bytes, tempDir, writeTemp } from './helpers.js';

describe('appliance image', () => {
  it('rejects a file that is not an appliance', async () => {
    const p = await writeTemp(await tempDir(), 'raw.img', bytes(8192));
    await expect(readApplianceHeader(p)).rejects.toThrow(/not an edgeplane appliance/);
  });
});
