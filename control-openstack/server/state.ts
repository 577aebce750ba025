// stack.json: what `up` generated (passwords, KEK, ports) and started (pids), so that `up` is
// idempotent and `down` stops exactly what was started.
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { EnvironmentError } from '../../common/index.js';
import { CEPH_DAEMONS, SERVICES } from './layout.js';

const PortsSchema = z.object({ keystone: z.number().int(), glance: z.number().int(), barbican: z.number().int(), mariadb: z.number().int() });

const CephSchema = z.object({
  fsid: z.string(),
  osdUuid: z.string(),
  ports: z.object({ mon: z.number().int(), monV1: z.number().int(), rgw: z.number().int(), bindMin: z.number().int(), bindMax: z.number().int() }),
  memstoreBytes: z.number().int(),
});

export const StackStateSchema = z.object({
  version: z.literal(1),
  ports: PortsSchema,
  secrets: z.object({
    adminPassword: z.string(),
    dbPassword: z.string(),
    glancePassword: z.string(),
    barbicanPassword: z.string(),
    /** base64 32 bytes (a Fernet key): Barbican simple_crypto key-encryption key */
    barbicanKek: z.string(),
  }),
  passwordHashRounds: z.number().int(),
  /** Glance stores images in Ceph RBD (fixed when the state dir is first set up) */
  withCeph: z.boolean(),
  /** present when withCeph: the cluster's identity and ports */
  ceph: CephSchema.optional(),
  /** one-time initialisation steps already done (db created, schema synced, bootstrapped, ...) */
  initialized: z.array(z.string()),
  pids: z.partialRecord(z.enum([...SERVICES, ...CEPH_DAEMONS]), z.number().int()),
  startedAt: z.string().optional(),
  coldStartMs: z.number().optional(),
  /** how long the last start of the Ceph daemons took (mon to RGW answering) */
  cephStartMs: z.number().optional(),
});
export type StackState = z.infer<typeof StackStateSchema>;

export function readStackState(file: string): StackState | null {
  if (!existsSync(file)) return null;
  const parsed = StackStateSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) throw new EnvironmentError(`${file} is not a stack state file written by this version of edgeplane`, [parsed.error.message]);
  return parsed.data;
}

export function writeStackState(file: string, state: StackState): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}
