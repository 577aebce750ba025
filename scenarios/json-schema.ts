// The JSON Schema of scenario files (what users write, before units are parsed), committed as
// scenarios/schema.json for editor completion; a test checks the committed file is up to date.
import { z } from 'zod';
import type { ScenarioSchema } from './schema.js';

export const SCHEMA_ID = 'https://edgeplane.dev/schemas/scenario.json';

export function scenarioJsonSchema(scenarioSchema: ScenarioSchema): Record<string, unknown> {
  const schema = z.toJSONSchema(scenarioSchema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' });
  return { ...schema, $id: SCHEMA_ID, title: 'edgeplane scenario' };
}

/** The text of scenarios/schema.json. */
export function scenarioJsonSchemaText(scenarioSchema: ScenarioSchema): string {
  return `${JSON.stringify(scenarioJsonSchema(scenarioSchema), null, 2)}\n`;
}
