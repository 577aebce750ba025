// OpenNebula's error model (include/Request.h ErrorCode; src/rm/Request.cc failure_response): a
// failed call answers [false, "[method] message", code, resp_id, replication_idx]. Each code maps
// to one of the agent contract's ControlError kinds (the `controlErrorKind` the transport reads).
import type { ControlErrorKind } from '../../agent/machine/index.js';

export const ONE_ERROR_CODES = {
  SUCCESS: 0x0000,
  AUTHENTICATION: 0x0100,
  AUTHORIZATION: 0x0200,
  NO_EXISTS: 0x0400,
  ACTION: 0x0800,
  XML_RPC_API: 0x1000,
  INTERNAL: 0x2000,
  ALLOCATE: 0x4000,
  LOCKED: 0x8000,
  REPLICATION: 0x10000,
} as const;
export type OneErrorName = keyof typeof ONE_ERROR_CODES;

const BY_CODE = new Map<number, OneErrorName>(Object.entries(ONE_ERROR_CODES).map(([k, v]) => [v, k as OneErrorName]));

export function oneErrorName(code: number): OneErrorName | 'UNKNOWN' {
  return BY_CODE.get(code) ?? 'UNKNOWN';
}

/**
 * AUTHENTICATION: wrong password or an expired/revoked token (log in again); AUTHORIZATION: the
 * user may not do this; NO_EXISTS: no such object; ACTION (wrong state), LOCKED, INTERNAL and
 * REPLICATION (a follower, an election) may pass; XML_RPC_API / ALLOCATE: the request itself is bad.
 */
export function kindOfOneError(name: OneErrorName | 'UNKNOWN'): ControlErrorKind {
  switch (name) {
    case 'AUTHENTICATION':
      return 'unauthorized';
    case 'AUTHORIZATION':
      return 'forbidden';
    case 'NO_EXISTS':
      return 'notFound';
    case 'ACTION':
    case 'LOCKED':
    case 'INTERNAL':
    case 'REPLICATION':
      return 'unavailable';
    default:
      return 'invalid';
  }
}

/** A call oned answered with success = false. */
export class OneError extends Error {
  override readonly name: string = 'OneError';
  readonly errorName: OneErrorName | 'UNKNOWN';
  readonly controlErrorKind: ControlErrorKind;
  constructor(
    readonly method: string,
    readonly code: number,
    /** oned's message, `[method] ...` prefix included */
    readonly oneMessage: string,
    /** the id of the object that caused the error (-1: none) */
    readonly objectId: number,
  ) {
    const errorName = oneErrorName(code);
    super(`${method}: ${errorName} (${code}): ${oneMessage || '(empty message)'}`);
    this.errorName = errorName;
    this.controlErrorKind = kindOfOneError(errorName);
  }
}
