// The agent as one file for SSH nodes: cli/remote-agent.js and what it imports (the agent, the
// node clients, the logger, their packages) bundled by esbuild into a single ESM file of ~2 MB.
// Why a bundle, not dist/ plus node_modules: the agent needs a handful of packages, but dist/'s
// other entry points import the reporting stack (d3, linkedom, playwright-core: over 100 MB
// of node_modules), and a host would need a matching tree; one file needs only Node >= 20.
// Built once per set of inputs (a hash of the built sources and esbuild's version), cached.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EnvironmentError } from '../../common/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SKIP = new Set(['node_modules', 'test', 'dist', 'out', 'docs', 'scripts', 'bench', 'reports', 'edge-sim', 'scenarios']);

/** Every source file under the build root that may end up in the bundle, in a stable order. */
function inputFiles(dir = ROOT): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith('.') || (dir === ROOT && SKIP.has(name))) continue;
    const path = join(dir, name);
    const st = statSync(path);
    if (st.isDirectory()) out.push(...inputFiles(path));
    else if (dir !== ROOT && /\.(js|ts)$/.test(name) && !name.endsWith('.d.ts') && !name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

function entryFile(): string {
  for (const ext of ['js', 'ts']) {
    const p = join(ROOT, 'cli', `remote-agent.${ext}`);
    if (existsSync(p)) return p;
  }
  throw new EnvironmentError(`the remote agent entry (cli/remote-agent.js) is missing under ${ROOT}: build edgeplane first (npm run build)`);
}

/**
 * Written beside the bundle on a node: modules of the bundle look for the package root (the
 * nearest package.json naming edgeplane) when they load.
 */
export const BUNDLE_PACKAGE_JSON = `${JSON.stringify({ name: 'edgeplane', private: true, description: 'the edgeplane agent, bundled (edgeplane run --env real --inventory)' })}\n`;

export function bundleCacheDir(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'edgeplane', 'agent-bundle');
}

// `createRequire(import.meta.url)('pkg')` hides a package from the bundler: made a static import
const HIDDEN_REQUIRE = /createRequire\(import\.meta\.url\)\('([^']+)'\)/g;

/** The bundled agent (a path to a .mjs file), built unless the cache holds it. */
export async function agentBundle(o: { cacheDir?: string } = {}): Promise<{ path: string; bytes: number; hash: string; built: boolean }> {
  type Esbuild = typeof import('esbuild');
  let esbuild: Esbuild;
  try {
    esbuild = (await import('esbuild')) as Esbuild;
  } catch {
    throw new EnvironmentError('bundling the agent for SSH nodes needs the esbuild package (npm install esbuild)');
  }
  const entry = entryFile();
  const hash = createHash('sha256').update(`esbuild ${esbuild.version}\n`);
  for (const f of inputFiles()) hash.update(`${f.slice(ROOT.length)}\n`).update(readFileSync(f));
  const key = hash.digest('hex').slice(0, 16);
  const dir = o.cacheDir ?? bundleCacheDir();
  const path = join(dir, `agent-${key}.mjs`);
  if (existsSync(path)) return { path, bytes: statSync(path).size, hash: key, built: false };
  mkdirSync(dir, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: tmp,
      logLevel: 'silent',
      legalComments: 'none',
      // CommonJS packages inside an ES module need `require`
      banner: { js: "import { createRequire as __epCreateRequire } from 'node:module'; const require = __epCreateRequire(import.meta.url);" },
      plugins: [
        {
          name: 'hidden-require',
          setup(b) {
            b.onLoad({ filter: /\.(js|ts)$/ }, (args) => {
              // this package's own modules only (a build may itself live under node_modules, as the tests' does)
              if (!args.path.startsWith(ROOT) || args.path.slice(ROOT.length).split('/').includes('node_modules')) return undefined;
              const text = readFileSync(args.path, 'utf8');
              if (!text.includes('createRequire(import.meta.url)(')) return undefined;
              const names: string[] = [];
              const body = text.replace(HIDDEN_REQUIRE, (_m, pkg: string) => {
                names.push(pkg);
                return `(__epHidden${names.length - 1}.default ?? __epHidden${names.length - 1})`;
              });
              const head = names.map((n, i) => `import * as __epHidden${i} from '${n}';`).join('\n');
              return { contents: `${head}\n${body}`, loader: args.path.endsWith('.ts') ? 'ts' : 'js', resolveDir: join(args.path, '..') };
            });
          },
        },
      ],
    });
  } catch (err) {
    throw new EnvironmentError(`bundling the agent (esbuild) failed: ${(err as Error).message.split('\n').slice(0, 4).join(' ')}`);
  }
  renameSync(tmp, path);
  return { path, bytes: statSync(path).size, hash: key, built: true };
}
