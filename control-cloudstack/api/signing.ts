// CloudStack request signing, exactly as ApiServer.verifyRequest checks it: every parameter but
// `signature`, names sorted case-sensitively as sent (Collections.sort), values encoded as Java's
// URLEncoder.encode(v, "UTF-8") with "+" rewritten to "%20", joined with "&", the whole string
// lower-cased, then HMAC (SHA-1; SHA-512 as newer clients send it) keyed with the secret, Base64.
import { createHmac, timingSafeEqual } from 'node:crypto';

export type SignatureAlgorithm = 'sha1' | 'sha512';

/** java.net.URLEncoder.encode(v, "UTF-8").replaceAll("\\+", "%20"): only A-Z a-z 0-9 . - * _ stay. */
export function javaUrlEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!~'()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The string ApiServer signs: sorted `name=encoded value` pairs, lower-cased. */
export function canonicalString(params: Readonly<Record<string, string>>): string {
  return Object.keys(params)
    .filter((k) => k.toLowerCase() !== 'signature')
    .sort()
    .map((k) => `${k}=${javaUrlEncode(params[k]!)}`)
    .join('&')
    .toLowerCase();
}

export function sign(params: Readonly<Record<string, string>>, secret: string, algorithm: SignatureAlgorithm = 'sha1'): string {
  return createHmac(algorithm, secret).update(canonicalString(params), 'utf8').digest('base64');
}

/** Constant-time check of `signature` against both algorithms (the length tells them apart). */
export function verifySignature(params: Readonly<Record<string, string>>, secret: string, signature: string, accept: readonly SignatureAlgorithm[] = ['sha1', 'sha512']): SignatureAlgorithm | null {
  const given = Buffer.from(signature);
  for (const algorithm of accept) {
    const want = Buffer.from(sign(params, secret, algorithm));
    if (want.length === given.length && timingSafeEqual(want, given)) return algorithm;
  }
  return null;
}

/**
 * `expires` as ApiServer parses it (SimpleDateFormat "yyyy-MM-dd'T'HH:mm:ssZ", e.g.
 * 2011-10-10T12:00:00+0530); the `Z` and `+05:30` forms newer clients send are taken too.
 * Returns epoch ms, or null when it is not a date.
 */
export function parseExpires(text: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})$/.exec(text.trim());
  if (!m) return null;
  const zone = m[7] === 'Z' ? 'Z' : `${m[7]!.slice(0, 3)}:${m[7]!.slice(-2)}`;
  const ms = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${zone}`);
  return Number.isNaN(ms) ? null : ms;
}

/** `expires` in the form exoscale/cs sends (`%Y-%m-%dT%H:%M:%S%z`, UTC). */
export function formatExpires(epochMs: number): string {
  return `${new Date(epochMs).toISOString().slice(0, 19)}+0000`;
}
