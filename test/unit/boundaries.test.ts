// The rooms of the code and what each may import, checked on the sources' runtime import graph
// (type-only imports are erased by the compiler, so they do not count).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const SKIP = new Set(['node_modules', 'dist', 'test', 'out', '.git', '.ci', 'docs', 'scripts']);

/** every source .ts file, relative to the root, with `/` separators */
function sources(dir = ROOT): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name) || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts') && dir !== ROOT) out.push(relative(ROOT, path).split(sep).join('/'));
  }
  return out.sort();
}

interface Import {
  from: string;
  /** a project file (relative to the root) or a package / builtin specifier */
  to: string;
  local: boolean;
}

/** the runtime imports of one file: static imports and re-exports that are not type-only, and dynamic imports */
function importsOf(file: string): Import[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, false, ts.ScriptKind.TS);
  const specs: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const typeOnly =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            clause.namedBindings !== undefined &&
            ts.isNamedImports(clause.namedBindings) &&
            clause.namedBindings.elements.length > 0 &&
            clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      if (!typeOnly) specs.push(node.moduleSpecifier.text);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const typeOnly = node.isTypeOnly || (node.exportClause !== undefined && ts.isNamedExports(node.exportClause) && node.exportClause.elements.every((e) => e.isTypeOnly));
      if (!typeOnly) specs.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
      specs.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return specs.map((spec) => {
    if (!spec.startsWith('.')) return { from: file, to: spec.replace(/^node:/, ''), local: false };
    const target = relative(ROOT, resolve(ROOT, dirname(file), spec))
      .split(sep)
      .join('/')
      .replace(/\.js$/, '.ts');
    return { from: file, to: target, local: true };
  });
}

const FILES = sources();
const GRAPH = new Map(FILES.map((f) => [f, importsOf(f)]));
const top = (file: string) => file.split('/')[0]!;

/** every module reachable at runtime from `entries` (project files and packages), with the path that reached it */
function closure(entries: string[]): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const queue: [string, string[]][] = entries.map((e) => [e, [e]]);
  while (queue.length > 0) {
    const [node, path] = queue.shift()!;
    if (seen.has(node)) continue;
    seen.set(node, path);
    for (const imp of GRAPH.get(node) ?? []) if (!seen.has(imp.to)) queue.push([imp.to, [...path, imp.to]]);
  }
  return seen;
}

function forbiddenIn(entries: string[], forbidden: (module: string) => boolean): string[] {
  return [...closure(entries)].filter(([m]) => forbidden(m)).map(([m, path]) => `${m} via ${path.join(' -> ')}`);
}

const IO_BUILTINS = ['fs', 'fs/promises', 'http', 'https', 'net', 'tls', 'dgram', 'child_process', 'worker_threads', 'cluster', 'os', 'readline', 'dns'];
const IO_PACKAGES = ['execa', 'got', 'dockerode', 'ssh2', 'pino', 'playwright-core', 'linkedom', 'cli-progress', 'commander'];

describe('the import boundaries', () => {
  it('finds the sources and their imports (the check itself works)', () => {
    expect(FILES).toContain('agent/machine/machine.ts');
    expect(FILES).toContain('planes/index.ts');
    expect(GRAPH.get('planes/index.ts')!.map((i) => i.to)).toContain('control-openstack/index.ts');
    // a type-only import is not a runtime edge
    expect(GRAPH.get('environments/types.ts')!.filter((i) => i.local)).toEqual([]);
  });

  it('agent/machine is pure: its import closure has no I/O module', () => {
    const entries = FILES.filter((f) => f.startsWith('agent/machine/'));
    expect(forbiddenIn(entries, (m) => IO_BUILTINS.includes(m) || IO_PACKAGES.includes(m) || (!m.includes('/') && m.startsWith('node:')))).toEqual([]);
  });

  it('edge-sim/ loads no child_process, http, net or execa', () => {
    const entries = FILES.filter((f) => f.startsWith('edge-sim/'));
    expect(forbiddenIn(entries, (m) => ['child_process', 'http', 'https', 'net', 'tls', 'dgram', 'execa', 'got', 'dockerode', 'ssh2'].includes(m))).toEqual([]);
  });

  it('nothing in adapters/, agent/, edge-sim/, reports/, scenarios/ or environments/ imports a concrete plane or the composition root', () => {
    const rooms = ['adapters', 'agent', 'edge-sim', 'reports', 'scenarios', 'environments', 'pipeline', 'common'];
    const bad = [...GRAPH.values()]
      .flat()
      .filter((i) => i.local && rooms.includes(top(i.from)) && (top(i.to).startsWith('control-') || top(i.to) === 'planes'))
      .map((i) => `${i.from} -> ${i.to}`);
    expect(bad).toEqual([]);
  });

  it("planes/index.ts is the only file that lists the planes (the test plane's own CLI command and the plane benchmarks aside)", () => {
    const allowed = new Set(['planes/index.ts', 'cli/commands/test-plane.ts', 'bench/openstack.ts', 'bench/agent-fetch.ts']);
    const bad = [...GRAPH.values()]
      .flat()
      .filter((i) => i.local && top(i.to).startsWith('control-') && !top(i.from).startsWith('control-') && !allowed.has(i.from))
      .map((i) => `${i.from} -> ${i.to}`);
    expect(bad).toEqual([]);
  });

  it("no cross-folder import bypasses the target folder's index.ts (type-only imports included)", () => {
    const bad: string[] = [];
    for (const file of FILES) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      for (const m of text.matchAll(/\bfrom\s+'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)/g)) {
        const spec = m[1] ?? m[2]!;
        const target = relative(ROOT, resolve(ROOT, dirname(file), spec))
          .split(sep)
          .join('/');
        if (top(target) !== top(file) && !target.endsWith('/index.js')) bad.push(`${file} -> ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });
});
