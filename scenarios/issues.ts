// Turns YAML syntax errors and zod issues into `file:line:col: path: what is wrong` lines,
// locating each issue path in the YAML document through its node ranges.
import { closest, distance } from 'fastest-levenshtein';
import { isMap, isNode, isPair, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import type { z } from 'zod';

type Path = readonly PropertyKey[];

/** Known keys of strict objects, recorded while parsing, keyed by the issue's `keys` array. */
export type KnownKeys = WeakMap<readonly string[], string[]>;

/** A per-parse zod error map that records the keys a strict object accepts and words messages. */
export function scenarioErrorMap(knownKeys: KnownKeys): z.core.$ZodErrorMap {
  return (issue) => {
    if (issue.code === 'unrecognized_keys') {
      const shape = defOf(issue.inst)?.shape;
      if (shape && typeof shape === 'object') knownKeys.set(issue.keys, Object.keys(shape));
      return undefined;
    }
    const missing = issue.input === undefined && (issue.code === 'invalid_type' || issue.code === 'invalid_value');
    if (missing) return 'missing required key';
    if (issue.code === 'invalid_type') {
      const isInteger = /int/.test(String(defOf(issue.inst)?.format ?? ''));
      return `expected ${isInteger ? 'an integer' : article(issue.expected)}, got ${describeValue(issue.input)}`;
    }
    if (issue.code === 'invalid_value' && issue.values.length > 0) {
      const values = issue.values.map(String);
      const hint = typeof issue.input === 'string' ? didYouMean(issue.input, values) : '';
      return `expected one of ${values.join(', ')}, got ${describeValue(issue.input)}${hint}`;
    }
    return undefined;
  };
}

function defOf(inst: unknown): Record<string, unknown> | undefined {
  return (inst as { _zod?: { def?: Record<string, unknown> } } | undefined)?._zod?.def;
}

function article(type: string): string {
  if (type === 'object') return 'a mapping';
  if (type === 'array') return 'a list';
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value);
  return `${typeof value} ${String(value)}`;
}

function didYouMean(word: string, candidates: readonly string[]): string {
  if (candidates.length === 0) return '';
  const best = closest(word, candidates as string[]);
  const limit = Math.max(2, Math.floor(best.length / 3));
  return distance(word.toLowerCase(), best.toLowerCase()) <= limit ? ` (did you mean "${best}"?)` : '';
}

interface Located {
  path: Path;
  message: string;
  atKey?: boolean;
}

/** Flattens zod issues: one entry per unknown key; for a failed union, the branch whose type matched. */
function locate(issues: readonly z.core.$ZodIssue[], knownKeys: KnownKeys, prefix: Path = []): Located[] {
  return issues.flatMap((issue): Located[] => {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys.get(issue.keys) ?? [];
      return issue.keys.map((key) => ({
        path: [...path, key],
        atKey: true,
        message: `unknown key "${key}"${didYouMean(
          key,
          known.filter((k) => k !== '$schema'),
        )}`,
      }));
    }
    if (issue.code === 'invalid_union') {
      if (issue.input === undefined) return [{ path, message: 'missing required key' }];
      const matching = issue.errors.filter((branch) => !branch.every(isTypeMismatchAtRoot));
      if (matching.length > 0) return matching.flatMap((branch) => locate(branch, knownKeys, path));
      const expected = issue.errors.flatMap((branch) => branch.filter(isTypeMismatchAtRoot).map(expectedOf));
      return [{ path, message: `expected ${[...new Set(expected)].join(' or ')}, got ${describeValue(issue.input)}` }];
    }
    return [{ path, message: issue.message }];
  });
}

/** A union branch failing this way did not match the input's type, so its issue is not the one to show. */
function isTypeMismatchAtRoot(issue: z.core.$ZodIssue): boolean {
  if (issue.path.length > 0) return false;
  if (issue.code === 'invalid_type') return true;
  // An enum given a value of another type (a mapping where a name was expected) did not match either.
  return issue.code === 'invalid_value' && !issue.values.some((v) => typeof v === typeof issue.input);
}

function expectedOf(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') return article(issue.expected);
  if (issue.code === 'invalid_value') return `one of ${issue.values.map(String).join(', ')}`;
  return 'another value';
}

/** `file:line:col: path: message` lines for zod issues, sorted by position. */
export function formatZodIssues(issues: readonly z.core.$ZodIssue[], knownKeys: KnownKeys, doc: Document, lineCounter: LineCounter, fileName: string): string[] {
  const lines = locate(issues, knownKeys).map(({ path, message, atKey }) => {
    const offset = offsetOf(doc, path, atKey ?? false);
    const { line, col } = lineCounter.linePos(offset);
    const where = path.length > 0 ? `${formatPath(path)}: ` : '';
    return { offset, text: `${fileName}:${line}:${col}: ${where}${message}` };
  });
  lines.sort((a, b) => a.offset - b.offset);
  return [...new Set(lines.map((l) => l.text))];
}

/** `file:line:col: message` lines for YAML syntax errors. */
export function formatYamlErrors(doc: Document, lineCounter: LineCounter, fileName: string): string[] {
  return doc.errors.map((err) => {
    const { line, col } = lineCounter.linePos(err.pos[0]);
    const message = err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    return `${fileName}:${line}:${col}: YAML syntax error: ${message}`;
  });
}

/** fleet.nodeOverrides[0].access.down */
export function formatPath(path: Path): string {
  return path.map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i > 0 ? '.' : ''}${String(part)}`)).join('');
}

/**
 * Source offset of the node at `path` (its key when `atKey`). A path that is not in the document
 * (a missing key) points at the deepest mapping or list that is.
 */
function offsetOf(doc: Document, path: Path, atKey: boolean): number {
  let node: unknown = doc.contents;
  let offset = rangeStart(node) ?? 0;
  for (let i = 0; i < path.length; i++) {
    const part = path[i];
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && keyText(p.key) === String(part));
      if (!pair) return offset;
      if (last && atKey) return rangeStart(pair.key) ?? offset;
      node = pair.value;
      offset = rangeStart(pair.value) ?? rangeStart(pair.key) ?? offset;
    } else if (isSeq(node) && typeof part === 'number') {
      const item = node.items[part];
      if (item === undefined) return offset;
      node = item;
      offset = rangeStart(item) ?? offset;
    } else {
      return offset;
    }
  }
  return offset;
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return typeof key === 'string' ? key : undefined;
}

function rangeStart(node: unknown): number | undefined {
  return isNode(node) ? (node as Node).range?.[0] : undefined;
}
