// The agent bundle for SSH nodes: one file that runs with Node alone (no node_modules beside it),
// built once per set of inputs.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { agentBundle, BUNDLE_PACKAGE_JSON } from '../../../environments/index.js';

const dir = mkdtempSync(join(tmpdir(), 'ep-bundle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('bundles the agent into one file that runs on its own, and reuses it while the inputs are unchanged', async () => {
  const first = await agentBundle({ cacheDir: join(dir, 'cache') });
  expect(first.built).toBe(true);
  expect(first.bytes).toBeGreaterThan(100_000);
  expect(first.bytes).toBeLessThan(8 * 2 ** 20);
  const text = readFileSync(first.path, 'utf8');
  expect(text).not.toMatch(/linkedom|jsdom|playwright-core/);
  // packages behind createRequire are bundled too (a node has no node_modules)
  expect(text).not.toMatch(/createRequire\(import\.meta\.url\)\('/);
  const again = await agentBundle({ cacheDir: join(dir, 'cache') });
  expect(again).toMatchObject({ path: first.path, built: false, hash: first.hash });

  // alone in an empty folder: a usage error, then a clear error for a bad configuration
  const alone = join(dir, 'alone');
  execFileSync('mkdir', ['-p', alone]);
  copyFileSync(first.path, join(alone, 'agent.mjs'));
  writeFileSync(join(alone, 'package.json'), BUNDLE_PACKAGE_JSON);
  const usage = spawnSync(process.execPath, [join(alone, 'agent.mjs')], { cwd: alone, encoding: 'utf8' });
  expect(usage.status, usage.stderr).toBe(2);
  expect(usage.stderr).toMatch(/usage: agent\.mjs --config/);
  writeFileSync(join(alone, 'bad.yaml'), 'node: x\n');
  const bad = spawnSync(process.execPath, [join(alone, 'agent.mjs'), '--config', join(alone, 'bad.yaml')], { cwd: alone, encoding: 'utf8' });
  expect(bad.status).toBe(2);
  expect(bad.stderr).toMatch(/^agent: /);
  expect(bad.stderr).not.toMatch(/Cannot find (module|package)/);
}, 120_000);
