// An existing cloud, addressed only through a standard clouds.yaml (or an openrc): the local stack
// is described in ./clouds.yaml of the working directory (the first place os-client-config
// looks), and `fleet`, `calibrate openstack` and `run --env real` work with `--cloud NAME` or
// OS_CLOUD and a --state that does not exist (so nothing can come from the stack's state dir).
// A cloud whose credentials lack the operator role is refused up front (exit 3), naming what is
// missing; an unknown cloud is bad input (exit 2).
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { enrollFleet, openFleet } from '../../../control-openstack/index.js';
import { buildPrivateCli } from './agent/helpers.js';
import { acquireStack, type TestStack } from './stack.js';

const run = randomUUID().slice(0, 6);
const work = mkdtempSync(join(tmpdir(), 'edgeplane-cloud-'));
const NO_STATE = join(work, 'no-such-state-dir');
let ts: TestStack;
let CLI = '';

const cli = (args: string[], env: Record<string, string> = {}) =>
  execa(process.execPath, [CLI, ...args], { reject: false, cwd: work, env: { NO_COLOR: '1', PATH: process.env.PATH ?? '', HOME: work, XDG_CONFIG_HOME: join(work, 'xdg'), ...env }, extendEnv: false });

beforeAll(async () => {
  [CLI, ts] = await Promise.all([buildPrivateCli(), acquireStack()]);
  const { admin, endpoints } = ts.stack;
  // the operator as any cloud's clouds.yaml would have it: the auth URL without /v3, names not ids
  const node = (await enrollFleet(openFleet(ts.stack.stateDir).operator, [`cloud-${run}-member`]))[0]!.node;
  writeFileSync(
    join(work, 'clouds.yaml'),
    toYaml({
      clouds: {
        local: {
          auth: { auth_url: endpoints.identity.replace(/\/v3$/, ''), username: admin.username, project_name: admin.projectName, user_domain_name: 'Default', project_domain_name: 'Default' },
          region_name: 'RegionOne',
          interface: 'public',
          identity_api_version: 3,
        },
        // a plain project member: not an operator
        member: { auth: { auth_url: endpoints.identity, user_id: node.userId, password: node.password, project_id: node.projectId } },
      },
    }),
  );
  // the password in secure.yaml beside it, as os-client-config allows
  writeFileSync(join(work, 'secure.yaml'), toYaml({ clouds: { local: { auth: { password: admin.password } } } }));
  writeFileSync(
    join(work, 'admin-openrc'),
    [
      `export OS_AUTH_URL=${endpoints.identity}`,
      `export OS_USERNAME=${admin.username}`,
      `export OS_PASSWORD='${admin.password}'`,
      `export OS_PROJECT_NAME=${admin.projectName}`,
      'export OS_USER_DOMAIN_NAME=Default',
      'export OS_PROJECT_DOMAIN_NAME=Default',
      '',
    ].join('\n'),
  );
}, 600_000);

afterAll(async () => {
  await ts?.release();
  if (!process.env.EDGEPLANE_KEEP_TEST_DIRS) rmSync(work, { recursive: true, force: true });
});

it('fleet publish, enroll, assign and status through --cloud, OS_CLOUD and --openrc', async () => {
  const raw = join(work, 'image.raw');
  writeFileSync(raw, randomBytes(3 * 1024 * 1024 + 9));
  const pub = await cli(['fleet', 'publish', raw, '--id', `cl-${run}`, '--image-version', '1', '--keys', 'keys', '--cloud', 'local', '--state', NO_STATE, '--json']);
  expect(pub.exitCode, pub.stderr).toBe(0);
  const imageId = (JSON.parse(pub.stdout) as { imageId: string }).imageId;
  const node = `cl-${run}-a`;
  const enroll = await cli(['fleet', 'enroll', node, '--out', 'agents', '--state', NO_STATE], { OS_CLOUD: 'local' });
  expect(enroll.exitCode, enroll.stderr).toBe(0);
  // the agent config points at the cloud's Keystone, as the cloud's catalog names it
  expect(readFileSync(join(work, 'agents', `${node}.agent.yaml`), 'utf8')).toContain(`authUrl: ${ts.stack.endpoints.identity}`);
  const assign = await cli(['fleet', 'assign', `${imageId}@1`, node, '--openrc', 'admin-openrc', '--state', NO_STATE]);
  expect(assign.exitCode, assign.stderr).toBe(0);
  const status = await cli(['fleet', 'status', node, '--json', '--cloud', 'local', '--state', NO_STATE]);
  expect(status.exitCode, status.stderr).toBe(0);
  expect(JSON.parse(status.stdout)).toMatchObject([{ nodeId: node, enabled: true, pin: { imageId, version: '1' } }]);
  expect(existsSync(join(NO_STATE, 'stack.json'))).toBe(false); // nothing came from a local stack
}, 300_000);

it('refuses a cloud that is not an operator (exit 3, what is missing named), an unknown cloud and no clouds.yaml (exit 2)', async () => {
  const member = await cli(['fleet', 'status', '--cloud', 'member', '--state', NO_STATE]);
  expect(member.exitCode, member.stderr).toBe(3);
  expect(member.stderr).toContain('clouds.yaml cloud "member"');
  expect(member.stderr).toContain('lacks the "admin" role');
  expect(member.stderr).not.toMatch(/\n\s+at /);
  const unknown = await cli(['fleet', 'status', '--cloud', 'nope', '--state', NO_STATE]);
  expect(unknown.exitCode).toBe(2);
  expect(unknown.stderr).toContain('has no cloud "nope" (it has: local, member)');
  const elsewhere = await execa(process.execPath, [CLI, 'fleet', 'status', '--cloud', 'local'], {
    reject: false,
    cwd: tmpdir(),
    env: { PATH: process.env.PATH ?? '', HOME: NO_STATE, XDG_CONFIG_HOME: NO_STATE },
    extendEnv: false,
  });
  expect(elsewhere.exitCode).toBe(2);
  expect(elsewhere.stderr).toContain('no clouds.yaml');
});

it('calibrate openstack and run --env real with --cloud', async () => {
  const cal = await cli(['calibrate', 'openstack', '--cloud', 'local', '--samples', '3', '--out', 'cal.json', '--state', NO_STATE]);
  expect(cal.exitCode, cal.stderr).toBe(0);
  const file = JSON.parse(readFileSync(join(work, 'cal.json'), 'utf8')) as { source: string; ops: Record<string, { samples: number }>; profile?: unknown };
  expect(file.source).toContain('clouds.yaml cloud "local"');
  expect(file.ops['glance.image.download_range']?.samples).toBe(3);
  expect(file.profile).toBeUndefined(); // not our processes: no live profile

  const scenario = join(work, 'tiny.yaml');
  writeFileSync(scenario, ['name: tiny-cloud', 'repeat: 1', 'fleet: {sites: 1, nodesPerSite: 1}', 'image: {size: 6MiB, chunk: 1MiB}', 'planes: [openstack]', ''].join('\n'));
  const r = await cli(['run', scenario, '--env', 'real', '--plane', 'openstack', '--cloud', 'local', '--hypervisor', 'sim', '--nodes', '1', '--out', join(work, 'out')]);
  expect(r.exitCode, r.stderr).toBe(0);
  const lines = readFileSync(join(work, 'out', 'results.ndjson'), 'utf8')
    .trim()
    .split('\n');
  const accuracy = lines.map((l) => JSON.parse(l) as { metric?: string; value?: number }).find((s) => s.metric === 'placement_accuracy');
  expect(accuracy?.value).toBe(1);
}, 600_000);
