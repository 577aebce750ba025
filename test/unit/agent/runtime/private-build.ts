// The CLI built into a directory of this test run's own: other work in the same checkout may
// rebuild dist/ at any moment, and a half-rebuilt dist/ would break an agent process at start.
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';

export async function buildPrivateCli(): Promise<string> {
  return (await buildPrivateDist()).cli;
}

/** Builds the project into a private directory; `remove()` deletes it. */
export async function buildPrivateDist(): Promise<{ cli: string; remove: () => Promise<void> }> {
  // under node_modules so that packages resolve and the package root is found
  const outDir = join(process.cwd(), 'node_modules', '.cache', 'edgeplane-agent-tests', `dist-${process.pid}`);
  const r = await execa('npx', ['tsc', '-p', 'tsconfig.json', '--outDir', outDir, '--sourceMap', 'false'], { reject: false });
  const cli = join(outDir, 'cli', 'main.js');
  if (!existsSync(cli)) throw new Error(`could not build the CLI into ${outDir}: ${r.stdout}\n${r.stderr}`);
  return { cli, remove: () => rm(outDir, { recursive: true, force: true }) };
}
