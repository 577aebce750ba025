// Reads scenario files (shipped by name, or any path), validates them and reports every problem
// as `file:line:col: ...` lines in one InputError.
import { existsSync, readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LineCounter, parseDocument } from 'yaml';
import { INPUT_LIMITS, InputError, readInputText } from '../common/index.js';
import { formatYamlErrors, formatZodIssues, scenarioErrorMap, type KnownKeys } from './issues.js';
import { scenarioJsonSchema, scenarioJsonSchemaText } from './json-schema.js';
import { scenarioSchemaFor, type Scenario, type ScenarioPlane, type ScenarioSchema } from './schema.js';

/** The package root: the nearest directory above this module whose package.json names edgeplane. */
function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'edgeplane') {
      return dir;
    }
    if (dirname(dir) === dir) throw new Error(`cannot find the edgeplane package root above ${start}`);
  }
}

export const PACKAGE_ROOT: string = findPackageRoot(dirname(fileURLToPath(import.meta.url)));
export const SHIPPED_DIR: string = join(PACKAGE_ROOT, 'scenarios', 'shipped');

/** Parses and validates scenario YAML; throws InputError whose details are `file:line:col: ...` lines. */
function parseWith(schema: ScenarioSchema, text: string, fileName: string): Scenario {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true });
  if (doc.errors.length > 0) throw invalid(fileName, formatYamlErrors(doc, lineCounter, fileName));

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    throw invalid(fileName, [`${fileName}:1:1: ${(err as Error).message}`]);
  }
  if (data === null || data === undefined || typeof data !== 'object' || Array.isArray(data)) {
    throw invalid(fileName, [`${fileName}:1:1: a scenario must be a mapping with at least "name" and "planes"`]);
  }

  const knownKeys: KnownKeys = new WeakMap();
  const result = schema.safeParse(data, { reportInput: true, error: scenarioErrorMap(knownKeys) });
  if (result.success) return result.data;
  throw invalid(fileName, formatZodIssues(result.error.issues, knownKeys, doc, lineCounter, fileName));
}

function invalid(fileName: string, details: string[]): InputError {
  const count = details.length === 1 ? '1 error' : `${details.length} errors`;
  return new InputError(`invalid scenario ${fileName} (${count})`, details);
}

/**
 * Loads a shipped scenario by name ("default") or a scenario file by path.
 * Errors name the file relative to the working directory when it is below it.
 */
async function loadWith(schema: ScenarioSchema, nameOrPath: string): Promise<{ scenario: Scenario; path: string; text: string }> {
  const path = resolveScenarioPath(nameOrPath);
  if (!path) {
    const shipped = await listShippedWith(schema);
    throw new InputError(`no scenario "${nameOrPath}": not a file and not a shipped scenario`, [`shipped scenarios: ${shipped.map((s) => s.name).join(', ')}`]);
  }
  const text = await readInputText(displayPath(path), { what: 'scenario', maxBytes: INPUT_LIMITS.scenario });
  return { scenario: parseWith(schema, text, displayPath(path)), path, text };
}

function resolveScenarioPath(nameOrPath: string): string | undefined {
  const asPath = resolve(nameOrPath);
  if (existsSync(asPath)) return asPath;
  if (/^[\w.-]+$/.test(nameOrPath)) {
    const shipped = join(SHIPPED_DIR, `${nameOrPath.replace(/\.ya?ml$/, '')}.yaml`);
    if (existsSync(shipped)) return shipped;
  }
  return undefined;
}

function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

/** The shipped scenarios, sorted by name. */
async function listShippedWith(schema: ScenarioSchema): Promise<{ name: string; description: string; path: string }[]> {
  const files = (await readdir(SHIPPED_DIR)).filter((f) => f.endsWith('.yaml')).sort();
  return Promise.all(
    files.map(async (file) => {
      const path = join(SHIPPED_DIR, file);
      const scenario = parseWith(schema, await readFile(path, 'utf8'), displayPath(path));
      return { name: file.replace(/\.yaml$/, ''), description: scenario.description, path };
    }),
  );
}

/** Scenario files for one set of planes (the composition root makes the one edgeplane uses). */
export class ScenarioCatalog {
  readonly schema: ScenarioSchema;

  constructor(planes: readonly ScenarioPlane[]) {
    this.schema = scenarioSchemaFor(planes);
  }

  /** Parses and validates scenario YAML; throws InputError whose details are `file:line:col: ...` lines. */
  parse(text: string, fileName: string): Scenario {
    return parseWith(this.schema, text, fileName);
  }

  /** A shipped scenario by name ("default") or a scenario file by path. */
  load(nameOrPath: string): Promise<{ scenario: Scenario; path: string; text: string }> {
    return loadWith(this.schema, nameOrPath);
  }

  /** The shipped scenarios, sorted by name. */
  listShipped(): Promise<{ name: string; description: string; path: string }[]> {
    return listShippedWith(this.schema);
  }

  jsonSchema(): Record<string, unknown> {
    return scenarioJsonSchema(this.schema);
  }

  /** The text of scenarios/schema.json. */
  jsonSchemaText(): string {
    return scenarioJsonSchemaText(this.schema);
  }
}
