import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scenarios } from '../../../planes/index.js';
import { PACKAGE_ROOT } from '../../../scenarios/index.js';

const SCHEMA_FILE = join(PACKAGE_ROOT, 'scenarios', 'schema.json');

describe('scenarios/schema.json', () => {
  // Regenerate with: EDGEPLANE_UPDATE_SCHEMA=1 npx vitest run test/unit/scenarios/json-schema.test.ts
  it('is up to date with the zod schema', async () => {
    const generated = scenarios.jsonSchemaText();
    if (process.env.EDGEPLANE_UPDATE_SCHEMA === '1') await writeFile(SCHEMA_FILE, generated);
    expect(await readFile(SCHEMA_FILE, 'utf8')).toBe(generated);
  });

  it('describes what users write: unit strings, strict keys, name and planes required', () => {
    const schema = scenarios.jsonSchema() as {
      required: string[];
      additionalProperties: boolean;
      properties: Record<string, { properties?: Record<string, { type?: string; pattern?: string }> }>;
    };
    expect(schema.required.sort()).toEqual(['name', 'planes']);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties).toHaveProperty('$schema');
    const uplink = schema.properties.origin!.properties!.uplink!;
    expect(uplink.type).toBe('string');
    expect(new RegExp(uplink.pattern!).test('10Gbit')).toBe(true);
    expect(new RegExp(uplink.pattern!).test('10Gbits')).toBe(false);
  });
});
