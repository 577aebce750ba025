// Reads scenario files (shipped by name, or any path), validates them and reports every problem
// as `file:line:col: ...` lines in one InputError.
import { existsSync, readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LineCounter, parseDocument } from 'yaml';
import { InputError } from '../common/index.js';
import { formatYamlErrors, formatZodIssues, scenarioErrorMap, type KnownKeys } from './issues.js';
import { ScenarioSchema, type Scenario } from './schema.js';

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
export function parseScenario(text: string, fileName: string): Scenario {
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
  const result = ScenarioSchema.safeParse(data, { reportInput: true, error: scenarioErrorMap(knownKeys) });
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
export async function loadScenario(nameOrPath: string): Promise<{ scenario: Scenario; path: string; text: string }> {
  const path = resolveScenarioPath(nameOrPath);
  if (!path) {
    const shipped = await listShipped();
    throw new InputError(
      `no scenario "${nameOrPath}": not a file and not a shipped scenario`,
      [`shipped scenarios: ${shipped.map((s) => s.name).join(', ')}`],
    );
  }
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read scenario ${displayPath(path)}: ${(err as Error).message}`);
  }
  return { scenario: parseScenario(text, displayPath(path)), path, text };
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
export async function listShipped(): Promise<{ name: string; description: string; path: string }[]> {
  const files = (await readdir(SHIPPED_DIR)).filter((f) => f.endsWith('.yaml')).sort();
  return Promise.all(
    files.map(async (file) => {
      const path = join(SHIPPED_DIR, file);
      const scenario = parseScenario(await readFile(path, 'utf8'), displayPath(path));
      return { name: file.replace(/\.yaml$/, ''), description: scenario.description, path };
    }),
  );
}
