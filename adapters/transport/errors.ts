// The transport's errors, the classification of network failures, and their mapping to the agent
// contract's ControlError kinds.
import type { ControlError, ControlErrorKind } from '../../agent/machine/index.js';
import { isRetryableStatus } from './retry.js';

const RETRYABLE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** Connection-level failures worth another attempt (fetch wraps them: look at `cause`). */
export function isRetryableNetworkError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && RETRYABLE_CODES.has(code)) return true;
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && /socket hang up|other side closed|ECONNRESET/i.test(message)) return true;
    if ((e as { name?: unknown }).name === 'TimeoutError') return true;
  }
  return false;
}

/** A non-2xx answer from a service. */
export class HttpError extends Error {
  constructor(
    readonly op: string,
    readonly method: string,
    readonly url: string,
    readonly status: number,
    readonly bodyExcerpt: string,
  ) {
    super(`${op}: ${method} ${url} -> HTTP ${status}${bodyExcerpt ? `: ${bodyExcerpt}` : ''}`);
    this.name = 'HttpError';
  }
}

/** The connection failed on every attempt (refused, reset, timed out). */
export class ConnectionError extends Error {
  constructor(
    readonly op: string,
    readonly url: string,
    readonly attempts: number,
    override readonly cause: unknown,
  ) {
    super(`${op}: ${url} unreachable after ${attempts} attempt(s): ${describeCause(cause)}`);
    this.name = 'ConnectionError';
  }
}

/** A response arrived but did not have the expected shape. */
export class ResponseShapeError extends Error {
  constructor(
    readonly op: string,
    message: string,
  ) {
    super(`${op}: unexpected response: ${message}`);
    this.name = 'ResponseShapeError';
  }
}

/** A body of another length (or another byte range) than the one asked for. */
export class ResponseLengthError extends Error {
  readonly controlErrorKind = 'unavailable';
  constructor(
    readonly op: string,
    readonly url: string,
    readonly expected: number,
    readonly got: number,
    detail = '',
  ) {
    super(`${op}: ${url}: ${got} bytes, expected ${expected}${detail ? ` (${detail})` : ''}`);
    this.name = 'ResponseLengthError';
  }
}

/** An error and its `cause` chain, codes included, on one line. */
export function describeCause(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    const message = (e as { message?: unknown }).message;
    parts.push([typeof code === 'string' ? code : '', typeof message === 'string' ? message : String(e)].filter(Boolean).join(' '));
  }
  return parts.join(' <- ');
}

/** Map any client error to the agent contract's error kinds. */
export function toControlError(err: unknown): ControlError {
  const message = err instanceof Error ? err.message : String(err);
  return { kind: controlErrorKind(err), message };
}

export function controlErrorKind(err: unknown): ControlErrorKind {
  if (err instanceof HttpError) {
    if (err.status === 401) return 'unauthorized';
    if (err.status === 403) return 'forbidden';
    if (err.status === 404) return 'notFound';
    if (isRetryableStatus(err.status) || err.status === 409 || err.status === 429) return 'unavailable';
    return 'invalid';
  }
  if (err instanceof ConnectionError || isRetryableNetworkError(err)) return 'unavailable';
  const kind = (err as { controlErrorKind?: unknown }).controlErrorKind;
  if (typeof kind === 'string' && ['unavailable', 'unauthorized', 'forbidden', 'notFound', 'invalid'].includes(kind)) {
    return kind as ControlErrorKind;
  }
  return 'invalid';
}
