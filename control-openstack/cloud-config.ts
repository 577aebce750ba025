// Any existing cloud as the operator: a cloud of a standard clouds.yaml (os-client-config /
// openstacksdk search path, `--cloud NAME` or OS_CLOUD) or an openrc file (`export OS_*=...`).
// Only what the operator needs is read: the Keystone v3 auth URL and password or application
// credentials; Glance and Barbican come from the token's catalog (public interface, or the
// cloud's `interface`). Nothing assumes loopback or the local stack's layout.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { InputError } from '../common/index.js';
import type { KeystoneCredentials } from './client/index.js';

/** Where os-client-config looks for clouds.yaml (and secure.yaml), first match wins. */
export function cloudsYamlSearchPath(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string[] {
  const config = env.XDG_CONFIG_HOME ? join(env.XDG_CONFIG_HOME, 'openstack') : join(env.HOME ?? homedir(), '.config', 'openstack');
  return [cwd, config, '/etc/openstack'];
}

const AuthSchema = z.looseObject({
  auth_url: z.string().url(),
  username: z.string().optional(),
  user_id: z.string().optional(),
  password: z.string().optional(),
  project_name: z.string().optional(),
  project_id: z.string().optional(),
  user_domain_name: z.string().optional(),
  user_domain_id: z.string().optional(),
  project_domain_name: z.string().optional(),
  project_domain_id: z.string().optional(),
  domain_name: z.string().optional(),
  application_credential_id: z.string().optional(),
  application_credential_secret: z.string().optional(),
});

const CloudSchema = z.looseObject({
  auth: AuthSchema,
  auth_type: z.string().optional(),
  region_name: z.string().optional(),
  interface: z.enum(['public', 'internal', 'admin']).optional(),
  identity_api_version: z.union([z.string(), z.number()]).optional(),
});

const CloudsFileSchema = z.looseObject({ clouds: z.record(z.string(), z.unknown()) });

/** What the operator client is built from: a Keystone v3 URL and credentials with a project scope. */
export interface CloudTarget {
  /** where it came from, for messages: `clouds.yaml cloud "x" (/path)` or `openrc /path` */
  source: string;
  authUrl: string;
  credentials: KeystoneCredentials;
  /** the catalog interface for Glance and Barbican */
  interface: 'public' | 'internal' | 'admin';
  region?: string;
}

function readYaml(path: string): unknown {
  try {
    return parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new InputError(`${path} is not valid YAML: ${(err as Error).message}`);
  }
}

function merge(a: unknown, b: unknown): unknown {
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
    for (const [k, v] of Object.entries(b as Record<string, unknown>)) out[k] = merge(out[k], v);
    return out;
  }
  return b === undefined ? a : b;
}

/** Keystone v3 endpoint of an auth_url (`https://k:5000` and `https://k:5000/v3/` both give `.../v3`). */
export function v3Url(authUrl: string): string {
  const trimmed = authUrl.replace(/\/+$/, '');
  return /\/v3$/.test(trimmed) ? trimmed : `${trimmed}/v3`;
}

function credentialsOf(auth: z.infer<typeof AuthSchema>, authType: string | undefined, where: string): KeystoneCredentials {
  if (authType === 'v3applicationcredential' || (authType === undefined && auth.application_credential_id)) {
    if (!auth.application_credential_id || !auth.application_credential_secret) throw new InputError(`${where}: application credentials need application_credential_id and application_credential_secret`);
    return { kind: 'applicationCredential', id: auth.application_credential_id, secret: auth.application_credential_secret };
  }
  if (authType !== undefined && authType !== 'password' && authType !== 'v3password') throw new InputError(`${where}: auth_type ${authType} is not supported (password, v3password or v3applicationcredential)`);
  if (!auth.password) throw new InputError(`${where}: no password (auth.password)`);
  const scope = auth.project_id
    ? { projectId: auth.project_id }
    : auth.project_name
      ? { projectName: auth.project_name, projectDomain: auth.project_domain_name ?? auth.domain_name ?? auth.project_domain_id ?? 'Default' }
      : null;
  if (!scope) throw new InputError(`${where}: the operator needs a project scope (auth.project_name or auth.project_id)`);
  if (auth.user_id) return { kind: 'password', userId: auth.user_id, password: auth.password, scope };
  if (!auth.username) throw new InputError(`${where}: no user (auth.username or auth.user_id)`);
  return { kind: 'password', username: auth.username, userDomain: auth.user_domain_name ?? auth.domain_name ?? auth.user_domain_id ?? 'Default', password: auth.password, scope };
}

/** The cloud `name` from the first clouds.yaml of the search path (secure.yaml beside it merged in). */
export function loadCloud(name: string, opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): CloudTarget {
  const env = opts.env ?? process.env;
  const explicit = env.OS_CLIENT_CONFIG_FILE;
  const dirs = cloudsYamlSearchPath(env, opts.cwd);
  const file = explicit ? resolve(explicit) : dirs.map((d) => join(d, 'clouds.yaml')).find((f) => existsSync(f));
  if (!file || !existsSync(file)) throw new InputError(`--cloud ${name}: no clouds.yaml (looked in ${explicit ? explicit : dirs.join(', ')})`);
  let raw = readYaml(file);
  const secure = (explicit ? [] : dirs.map((d) => join(d, 'secure.yaml'))).find((f) => existsSync(f));
  if (secure) raw = merge(raw, readYaml(secure));
  const parsed = CloudsFileSchema.safeParse(raw);
  if (!parsed.success) throw new InputError(`${file}: expected a top-level "clouds:" mapping`);
  const entry = parsed.data.clouds[name];
  if (entry === undefined) throw new InputError(`${file} has no cloud "${name}" (it has: ${Object.keys(parsed.data.clouds).sort().join(', ') || 'none'})`);
  const where = `clouds.yaml cloud "${name}" (${file})`;
  const cloud = CloudSchema.safeParse(entry);
  if (!cloud.success) throw new InputError(`${where} is not usable:\n${z.prettifyError(cloud.error)}`);
  const c = cloud.data;
  if (c.identity_api_version !== undefined && String(c.identity_api_version) !== '3') throw new InputError(`${where}: identity_api_version ${c.identity_api_version}: only Keystone v3 is supported`);
  return { source: where, authUrl: v3Url(c.auth.auth_url), credentials: credentialsOf(c.auth, c.auth_type, where), interface: c.interface ?? 'public', ...(c.region_name ? { region: c.region_name } : {}) };
}

/** An openrc file (`export OS_AUTH_URL=...` lines, as Horizon and `edgeplane up` write them). */
export function loadOpenrc(path: string): CloudTarget {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read openrc ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const vars: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*(?:export\s+)?(OS_[A-Z_]+)=(.*)$/.exec(line);
    if (!m) continue;
    vars[m[1]!] = m[2]!
      .trim()
      .replace(/^'(.*)'$/, '$1')
      .replace(/^"(.*)"$/, '$1');
  }
  const where = `openrc ${path}`;
  if (!vars.OS_AUTH_URL) throw new InputError(`${where}: no OS_AUTH_URL`);
  const auth = AuthSchema.safeParse({
    auth_url: vars.OS_AUTH_URL,
    username: vars.OS_USERNAME,
    user_id: vars.OS_USER_ID,
    password: vars.OS_PASSWORD,
    project_name: vars.OS_PROJECT_NAME ?? vars.OS_TENANT_NAME,
    project_id: vars.OS_PROJECT_ID ?? vars.OS_TENANT_ID,
    user_domain_name: vars.OS_USER_DOMAIN_NAME,
    project_domain_name: vars.OS_PROJECT_DOMAIN_NAME,
    application_credential_id: vars.OS_APPLICATION_CREDENTIAL_ID,
    application_credential_secret: vars.OS_APPLICATION_CREDENTIAL_SECRET,
  });
  if (!auth.success) throw new InputError(`${where}: ${z.prettifyError(auth.error)}`);
  const iface = vars.OS_INTERFACE === 'internal' || vars.OS_INTERFACE === 'admin' ? vars.OS_INTERFACE : 'public';
  return { source: where, authUrl: v3Url(auth.data.auth_url), credentials: credentialsOf(auth.data, vars.OS_AUTH_TYPE, where), interface: iface, ...(vars.OS_REGION_NAME ? { region: vars.OS_REGION_NAME } : {}) };
}

/** `--cloud` / `--openrc` / OS_CLOUD, in that order; null when none names a cloud (then the local stack is used). */
export function cloudTargetFrom(opts: { cloud?: string; openrc?: string }, env: NodeJS.ProcessEnv = process.env): CloudTarget | null {
  if (opts.cloud && opts.openrc) throw new InputError('give --cloud or --openrc, not both');
  if (opts.cloud) return loadCloud(opts.cloud, { env });
  if (opts.openrc) return loadOpenrc(opts.openrc);
  if (env.OS_CLOUD) return loadCloud(env.OS_CLOUD, { env });
  return null;
}
