// opennebula.json in the state folder: how the front-end was set up (mode, ports, where the prefix
// came from), what `up` started (pids) and measured (cold start), so that `up` is idempotent and
// `down` stops exactly what was started. credentials.json: the endpoint and the oneadmin login.
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { EnvironmentError, InputError } from '../../common/index.js';
import { DAEMONS } from './layout.js';

export const OneStateSchema = z.object({
  version: z.literal(1),
  /** local: built from source into the cache; prefix: a user's installed prefix; endpoint: nothing started */
  mode: z.enum(['local', 'prefix', 'endpoint']),
  endpoint: z.string(),
  portBase: z.number().int().optional(),
  /** where the prefix was copied from (the build cache's prefix, --prefix DIR, or "the system-wide installation under ROOT") */
  prefixFrom: z.string().optional(),
  source: z.object({ tarball: z.string(), sha256: z.string(), cacheDir: z.string() }).optional(),
  hosts: z.number().int().nonnegative(),
  schedIntervalS: z.number().int().positive().optional(),
  initialized: z.array(z.string()),
  pids: z.partialRecord(z.enum(DAEMONS), z.number().int()),
  startedAt: z.string().optional(),
  /** the last start: oned spawned to its API answering, and to the hosts MONITORED */
  coldStartMs: z.number().optional(),
  readyMs: z.number().optional(),
  firstBootstrap: z.boolean().optional(),
});
export type OneState = z.infer<typeof OneStateSchema>;

export const CredentialsSchema = z.object({ endpoint: z.string().url(), username: z.string().min(1), password: z.string().min(1) });
export type OneCredentials = z.infer<typeof CredentialsSchema>;

function readJson<T>(file: string, schema: z.ZodType<T>, what: string): T | null {
  if (!existsSync(file)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new EnvironmentError(`${file} is not JSON: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new EnvironmentError(`${file} is not ${what}`, [z.prettifyError(parsed.error)]);
  return parsed.data;
}

function writeJson(file: string, value: unknown): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

export const readOneState = (file: string) => readJson(file, OneStateSchema, 'an OpenNebula state file written by this version of edgeplane');
export const writeOneState = (file: string, s: OneState) => writeJson(file, s);
export const readCredentials = (file: string) => readJson(file, CredentialsSchema, 'an OpenNebula credentials file ({endpoint, username, password})');
export const writeCredentials = (file: string, c: OneCredentials) => writeJson(file, c);

/** `user:password` (ONE_AUTH format) or a credentials JSON file. */
export function parseCredentialsText(text: string, endpoint: string, source: string): OneCredentials {
  const t = text.trim();
  if (t.startsWith('{')) {
    let raw: unknown;
    try {
      raw = JSON.parse(t);
    } catch (err) {
      throw new InputError(`${source} is not JSON: ${(err as Error).message}`);
    }
    const p = CredentialsSchema.partial({ endpoint: true }).safeParse(raw);
    if (!p.success) throw new InputError(`${source}: expected {username, password}`, [z.prettifyError(p.error)]);
    return { endpoint, ...p.data };
  }
  const i = t.indexOf(':');
  if (i <= 0 || i === t.length - 1 || t.includes('\n')) throw new InputError(`${source}: expected one line user:password (the ONE_AUTH format) or a JSON file`);
  return { endpoint, username: t.slice(0, i), password: t.slice(i + 1) };
}
