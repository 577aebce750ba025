// What a call asks for (RequestSpec, RangeSpec, RequestBody) and the helpers that turn it into a
// URL and a body both HTTP stacks take.
import type { Readable } from 'node:stream';

export type RequestBody = Buffer | string | { json: unknown } | { stream: () => Readable; length?: number };

export interface RequestSpec {
  op: string;
  method: string;
  /** path template relative to the base URL, e.g. `/v2/images/{image_id}` */
  path: string;
  params?: Record<string, string>;
  query?: Record<string, string | number | boolean | undefined>;
  headers?: Record<string, string>;
  body?: RequestBody;
  /** statuses that count as success (default: any 2xx) */
  expect?: number[];
}

/** A ranged GET: the transport adds the Range header; success is 206 unless `expect` says otherwise. */
export type RangeSpec = Omit<RequestSpec, 'method' | 'body'>;

/** A request body in a form both HTTP stacks take; stream bodies stay factories (one per attempt). */
export interface PreparedBody {
  data: Buffer | string | (() => Readable) | undefined;
  headers: Record<string, string>;
  bytesOut: number;
}

export function expandPath(template: string, params: Record<string, string> = {}): string {
  return template.replace(/\{([a-z_]+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`path ${template}: missing parameter ${name}`);
    return encodeURIComponent(value);
  });
}

export function buildUrl(baseUrl: string, spec: Pick<RequestSpec, 'path' | 'params' | 'query'>): string {
  const url = new URL(baseUrl.replace(/\/+$/, '') + expandPath(spec.path, spec.params));
  for (const [k, v] of Object.entries(spec.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
  return url.toString();
}

export function prepareBody(spec: Pick<RequestSpec, 'body'>): PreparedBody {
  const b = spec.body;
  if (b === undefined) return { data: undefined, headers: {}, bytesOut: 0 };
  if (typeof b === 'string') return { data: b, headers: {}, bytesOut: Buffer.byteLength(b) };
  if (Buffer.isBuffer(b)) return { data: b, headers: { 'Content-Type': 'application/octet-stream' }, bytesOut: b.length };
  if ('json' in b) {
    const text = JSON.stringify(b.json);
    return { data: text, headers: { 'Content-Type': 'application/json' }, bytesOut: Buffer.byteLength(text) };
  }
  const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' };
  if (b.length !== undefined) headers['Content-Length'] = String(b.length);
  return { data: b.stream, headers, bytesOut: b.length ?? 0 };
}
