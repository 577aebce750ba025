// OpenNebula's XML documents (share/doc/xsd: vm.xsd, host.xsd, image.xsd, user.xsd, ...) as oned
// returns them inside the XML-RPC string value: parsed with fast-xml-parser, checked with zod, the
// TS types derived from the schemas. Only the fields edgeplane reads are required; the rest pass.
import { XMLParser } from 'fast-xml-parser';
import { z } from 'zod';
import { ResponseShapeError } from '../../adapters/transport/index.js';

const ARRAYS = new Set(['VM_POOL.VM', 'HOST_POOL.HOST', 'IMAGE_POOL.IMAGE', 'USER_POOL.USER', 'DATASTORE_POOL.DATASTORE', 'VM.HISTORY_RECORDS.HISTORY', 'VM_POOL.VM.HISTORY_RECORDS.HISTORY', 'ACL_POOL.ACL']);

const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: true,
  processEntities: true,
  htmlEntities: false,
  isArray: (_name, jpath) => ARRAYS.has(String(jpath)),
});

const int = z
  .string()
  .regex(/^-?\d+$/, 'an integer')
  .transform(Number);
const text = z.union([z.string(), z.literal('')]).default('');
/** a template: attribute -> text (or a nested vector attribute) */
const template = z.preprocess((v) => (v === '' || v === undefined ? {} : v), z.record(z.string(), z.unknown()));

// one.vm.info has the full record; one.vmpool.info the short one (History::to_xml_short: OID, SEQ,
// HOSTNAME, HID, CID, DS_ID, VM_MAD, TM_MAD, ACTION), without the times
export const HistorySchema = z.looseObject({
  SEQ: int,
  HID: int,
  HOSTNAME: text,
  DS_ID: int.optional(),
  STIME: int.optional(),
  PSTIME: int.optional(),
  PETIME: int.optional(),
  RSTIME: int.optional(),
  RETIME: int.optional(),
  ACTION: int.optional(),
});
export type OneHistory = z.infer<typeof HistorySchema>;

export const VmSchema = z.looseObject({
  ID: int,
  UID: int,
  NAME: text,
  STATE: int,
  LCM_STATE: int,
  STIME: int,
  ETIME: int,
  DEPLOY_ID: text.optional(),
  TEMPLATE: template,
  USER_TEMPLATE: template.optional(),
  HISTORY_RECORDS: z.preprocess((v) => (v === '' || v === undefined ? {} : v), z.looseObject({ HISTORY: z.array(HistorySchema).default([]) })).optional(),
});
export type OneVm = z.infer<typeof VmSchema>;

export const VmPoolSchema = z.object({ VM_POOL: z.preprocess((v) => (v === '' ? {} : v), z.looseObject({ VM: z.array(VmSchema).default([]) })) });

export const HostSchema = z.looseObject({
  ID: int,
  NAME: text,
  STATE: int,
  IM_MAD: text,
  VM_MAD: text,
  CLUSTER_ID: int,
  HOST_SHARE: z.looseObject({ RUNNING_VMS: int, MAX_CPU: int, MAX_MEM: int, CPU_USAGE: int, MEM_USAGE: int }).optional(),
  TEMPLATE: template,
});
export type OneHost = z.infer<typeof HostSchema>;
export const HostPoolSchema = z.object({ HOST_POOL: z.preprocess((v) => (v === '' ? {} : v), z.looseObject({ HOST: z.array(HostSchema).default([]) })) });

export const ImageSchema = z.looseObject({
  ID: int,
  UID: int,
  NAME: text,
  STATE: int,
  SIZE: int,
  DATASTORE_ID: int,
  TEMPLATE: template,
});
export type OneImage = z.infer<typeof ImageSchema>;
export const ImagePoolSchema = z.object({ IMAGE_POOL: z.preprocess((v) => (v === '' ? {} : v), z.looseObject({ IMAGE: z.array(ImageSchema).default([]) })) });

export const UserSchema = z.looseObject({
  ID: int,
  GID: int,
  NAME: text,
  AUTH_DRIVER: text.optional(),
  ENABLED: int.optional(),
  TEMPLATE: template,
});
export type OneUser = z.infer<typeof UserSchema>;
export const UserPoolSchema = z.object({ USER_POOL: z.preprocess((v) => (v === '' ? {} : v), z.looseObject({ USER: z.array(UserSchema).default([]) })) });

export const DatastoreSchema = z.looseObject({
  ID: int,
  NAME: text,
  TYPE: int,
  DS_MAD: text,
  TM_MAD: text,
  TOTAL_MB: int,
  FREE_MB: int,
  BASE_PATH: text.optional(),
  TEMPLATE: template,
});
export type OneDatastore = z.infer<typeof DatastoreSchema>;
export const DatastorePoolSchema = z.object({
  DATASTORE_POOL: z.preprocess((v) => (v === '' ? {} : v), z.looseObject({ DATASTORE: z.array(DatastoreSchema).default([]) })),
});

export const GroupPoolSchema = z.object({
  GROUP_POOL: z.preprocess((v) => (v === '' ? {} : v), z.looseObject({ GROUP: z.array(z.looseObject({ ID: int, NAME: text })).default([]) })),
});

/** an ACL rule (AclRule::to_xml): USER, RESOURCE, RIGHTS and ZONE as hex strings */
export const AclSchema = z.looseObject({ ID: int, USER: text, RESOURCE: text, RIGHTS: text, STRING: text.optional() });
export type OneAcl = z.infer<typeof AclSchema>;
export const AclPoolSchema = z.object({ ACL_POOL: z.preprocess((v) => (v === '' ? {} : v), z.looseObject({ ACL: z.array(AclSchema).default([]) })) });

/** Parse `xml` and check it against `schema` (the document's root element is `root`). */
export function parseOneXml<T>(method: string, xml: string, root: string, schema: z.ZodType<T>): T {
  let doc: Record<string, unknown>;
  try {
    doc = parser.parse(xml, true) as Record<string, unknown>;
  } catch (err) {
    throw new ResponseShapeError(method, `not an XML document (${(err as Error).message.split('\n')[0]}): ${xml.slice(0, 80)}`);
  }
  const body = root.endsWith('_POOL') ? doc : doc[root];
  if (body === undefined) throw new ResponseShapeError(method, `no <${root}> element: ${xml.slice(0, 80)}`);
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new ResponseShapeError(method, `<${root}> does not match its schema: ${z.prettifyError(parsed.error).slice(0, 300)}`);
  return parsed.data;
}

/** A template attribute as text ('' when absent or not a plain attribute). */
export function templateText(t: Record<string, unknown> | undefined, key: string): string | undefined {
  const v = t?.[key];
  return typeof v === 'string' ? v : undefined;
}

// States (include/VirtualMachine.h, Image.h, Host.h)
export const VM_STATE = { INIT: 0, PENDING: 1, HOLD: 2, ACTIVE: 3, STOPPED: 4, SUSPENDED: 5, DONE: 6, POWEROFF: 8, UNDEPLOYED: 9, CLONING: 10, CLONING_FAILURE: 11 } as const;
export const LCM_STATE = { LCM_INIT: 0, PROLOG: 1, BOOT: 2, RUNNING: 3, CLEANUP_RESUBMIT: 15, PROLOG_FAILURE: 39, BOOT_FAILURE: 36 } as const;
export const IMAGE_STATE = { INIT: 0, READY: 1, USED: 2, DISABLED: 3, LOCKED: 4, ERROR: 5 } as const;
export const HOST_STATE = { INIT: 0, MONITORED: 2, ERROR: 3, DISABLED: 4, OFFLINE: 8 } as const;

const VM_STATE_NAMES = Object.fromEntries(Object.entries(VM_STATE).map(([k, v]) => [v, k]));
const LCM_NAMES: Record<number, string> = {
  0: 'LCM_INIT',
  1: 'PROLOG',
  2: 'BOOT',
  3: 'RUNNING',
  4: 'MIGRATE',
  11: 'EPILOG',
  12: 'SHUTDOWN',
  15: 'CLEANUP_RESUBMIT',
  16: 'UNKNOWN',
  36: 'BOOT_FAILURE',
  39: 'PROLOG_FAILURE',
};

/** `ACTIVE/RUNNING`, `PENDING`, `HOLD`, ... as the CLI shows them. */
export function vmStateName(state: number, lcm: number): string {
  const s = VM_STATE_NAMES[state] ?? `STATE_${state}`;
  return state === VM_STATE.ACTIVE ? `${s}/${LCM_NAMES[lcm] ?? `LCM_${lcm}`}` : s;
}
