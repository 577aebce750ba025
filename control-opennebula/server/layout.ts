// Where a local OpenNebula front-end lives under its state folder, and its ports. Everything the
// daemons write (one.db, logs, the remote scripts the dummy drivers run, pid files) is under the
// state folder: two front-ends with different state folders and port bases do not meet.
import { join, resolve } from 'node:path';

export const DEFAULT_STATE_DIR = '.edgeplane/opennebula';
/** oned's XML-RPC port; the others follow it (46000-46099 on the shared CI machine) */
export const DEFAULT_PORT = 46000;
export const DEFAULT_HOSTS = 4;
/** mm_sched's SCHED_INTERVAL on the testbed (stock 15 s); the placement rate does not depend on it */
export const TESTBED_SCHED_INTERVAL_S = 2;

export interface OnePorts {
  /** oned XML-RPC (stock 2633) */
  oned: number;
  /** one_hm ZeroMQ publisher / replier (stock 2101 / 2102) */
  hookPub: number;
  hookRep: number;
  /** onemonitord TCP+UDP (stock 4124) */
  monitord: number;
  /** edgeplane's added services (agent mode): the byte server and the key service */
  edge: number;
}

export function portsFrom(base: number): OnePorts {
  return { oned: base, hookPub: base + 1, hookRep: base + 2, monitord: base + 3, edge: base + 10 };
}

export interface OneLayout {
  stateDir: string;
  stateFile: string;
  credentialsFile: string;
  /** the self-contained ONE_LOCATION */
  prefix: string;
  etc: string;
  var: string;
  /** oned's lock file (oned.cc: created O_EXCL at start, removed at a clean exit) */
  lockFile: string;
  oneAuth: string;
  remoteScripts: string;
  logs: string;
  edgeData: string;
  envFile: string;
  /** the ssh client configuration every driver's ssh reads (`SSH`/`SSH_FWD` point at it): how the TM ssh copies reach hosts over ssh */
  sshConfig: string;
}

/** oned.conf HOSTNAME: the name the TM drivers' copies start from (`<front-end>:<image path>`), an alias in the ssh configuration */
export const FRONTEND_SSH_NAME = 'edgeplane-frontend';

export function oneLayout(stateDir: string): OneLayout {
  const dir = resolve(stateDir);
  const prefix = join(dir, 'prefix');
  return {
    stateDir: dir,
    stateFile: join(dir, 'opennebula.json'),
    credentialsFile: join(dir, 'credentials.json'),
    prefix,
    etc: join(prefix, 'etc'),
    var: join(prefix, 'var'),
    lockFile: join(prefix, 'var', 'lock', '.lock'),
    oneAuth: join(dir, 'one_auth'),
    remoteScripts: join(dir, 'remote-scripts'),
    logs: join(dir, 'logs'),
    edgeData: join(dir, 'edge'),
    envFile: join(dir, 'env.sh'),
    sshConfig: join(dir, 'ssh', 'config'),
  };
}

/** The daemons `up` starts, in start order; `down` stops them in reverse. */
export const DAEMONS = ['oned', 'mm_sched', 'edge-services'] as const;
export type DaemonName = (typeof DAEMONS)[number];

/** the prefix's files `up` rewrites (oned, monitord and sched configs, the dummy IM's monitoring client control): their stock copies are kept */
export const STOCK_FILES = ['etc/oned.conf', 'etc/monitord.conf', 'etc/sched.conf', 'var/remotes/im/dummy.d/monitord-client_control.sh'] as const;

/** the stock copy of a prefix file (outside the folders OpenNebula globs: a `*.stock` beside a remote script would be run) */
export function stockPath(prefix: string, file: string): string {
  return join(prefix, '.edgeplane-stock', file);
}
