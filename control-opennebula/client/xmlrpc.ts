// XML-RPC as oned speaks it (xmlrpc-c's Abyss server): a methodCall envelope with typed params,
// and the methodResponse parsed with fast-xml-parser into plain values. Pure: no I/O.
// A response is either params (one value: for OpenNebula always the [success, value, code, ...]
// array) or a <fault> struct (xmlrpc-c's own errors, e.g. -506 for an unknown method).
import { XMLParser } from 'fast-xml-parser';
import { z } from 'zod';

/** A call parameter: strings, 32-bit integers and booleans are all OpenNebula's API takes. */
export type XmlRpcParam = string | number | boolean;
export type XmlRpcValue = string | number | boolean | XmlRpcValue[] | { [member: string]: XmlRpcValue };

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

export function escapeXml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&quot;'));
}

function encodeParam(p: XmlRpcParam): string {
  if (typeof p === 'string') return `<string>${escapeXml(p)}</string>`;
  if (typeof p === 'boolean') return `<boolean>${p ? 1 : 0}</boolean>`;
  if (!Number.isInteger(p) || p < INT32_MIN || p > INT32_MAX) throw new RangeError(`XML-RPC int parameter out of range: ${p}`);
  return `<int>${p}</int>`;
}

/** The request body of `method(params...)`. */
export function encodeCall(method: string, params: readonly XmlRpcParam[]): string {
  if (!/^[A-Za-z0-9_.]+$/.test(method)) throw new RangeError(`bad XML-RPC method name ${JSON.stringify(method)}`);
  const body = params.map((p) => `<param><value>${encodeParam(p)}</value></param>`).join('');
  return `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${body}</params></methodCall>`;
}

/** An XML-RPC fault (xmlrpc-c: -501 type error, -506 unknown method, ...). */
export class XmlRpcFault extends Error {
  constructor(
    readonly method: string,
    readonly faultCode: number,
    readonly faultString: string,
  ) {
    super(`${method}: XML-RPC fault ${faultCode}: ${faultString}`);
    this.name = 'XmlRpcFault';
  }
}

/** The body was not a methodResponse this module understands. */
export class XmlRpcShapeError extends Error {
  constructor(
    readonly method: string,
    detail: string,
  ) {
    super(`${method}: malformed XML-RPC response: ${detail}`);
    this.name = 'XmlRpcShapeError';
  }
}

const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: false,
  processEntities: true,
  htmlEntities: false,
  isArray: (_name, jpath) => {
    const p = String(jpath);
    return p.endsWith('data.value') || p.endsWith('struct.member');
  },
});

// the parsed <value> node: a typed child, or bare text (an untyped value is a string)
const valueNode = z.union([z.string(), z.record(z.string(), z.unknown())]);

function decodeValue(method: string, node: unknown): XmlRpcValue {
  const v = valueNode.safeParse(node);
  if (!v.success) throw new XmlRpcShapeError(method, 'a <value> that is neither text nor a typed element');
  if (typeof v.data === 'string') return v.data;
  const entries = Object.entries(v.data).filter(([k]) => k !== '#text');
  if (entries.length === 0) return typeof v.data['#text'] === 'string' ? (v.data['#text'] as string) : '';
  if (entries.length !== 1) throw new XmlRpcShapeError(method, `a <value> with ${entries.length} children`);
  const [type, inner] = entries[0]!;
  const text = typeof inner === 'string' ? inner : inner === undefined || inner === null ? '' : undefined;
  switch (type) {
    case 'string':
      if (text === undefined) throw new XmlRpcShapeError(method, '<string> with element content');
      return text;
    case 'i4':
    case 'int':
    case 'i8': {
      const n = Number((text ?? '').trim());
      if (!Number.isInteger(n)) throw new XmlRpcShapeError(method, `<${type}> ${JSON.stringify(text)} is not an integer`);
      return n;
    }
    case 'boolean': {
      const t = (text ?? '').trim();
      if (t !== '0' && t !== '1') throw new XmlRpcShapeError(method, `<boolean> ${JSON.stringify(text)}`);
      return t === '1';
    }
    case 'double': {
      const n = Number((text ?? '').trim());
      if (!Number.isFinite(n)) throw new XmlRpcShapeError(method, `<double> ${JSON.stringify(text)}`);
      return n;
    }
    case 'array': {
      const data = typeof inner === 'object' && inner !== null ? (inner as { data?: { value?: unknown } }).data : undefined;
      const values: unknown[] = typeof data === 'object' && data !== null && Array.isArray(data.value) ? data.value : [];
      return values.map((x) => decodeValue(method, x));
    }
    case 'struct': {
      const members = typeof inner === 'object' && inner !== null ? ((inner as { member?: unknown[] }).member ?? []) : [];
      const out: Record<string, XmlRpcValue> = {};
      for (const m of members) {
        const mm = m as { name?: unknown; value?: unknown };
        if (typeof mm.name !== 'string') throw new XmlRpcShapeError(method, 'a struct member without a name');
        out[mm.name] = decodeValue(method, mm.value);
      }
      return out;
    }
    default:
      throw new XmlRpcShapeError(method, `unsupported XML-RPC type <${type}>`);
  }
}

/** The single value of a methodResponse; throws XmlRpcFault for a <fault>, XmlRpcShapeError when malformed. */
export function decodeResponse(method: string, body: string): XmlRpcValue {
  let doc: unknown;
  try {
    doc = parser.parse(body, true);
  } catch (err) {
    throw new XmlRpcShapeError(method, `not XML (${(err as Error).message.split('\n')[0]}): ${body.slice(0, 80)}`);
  }
  const resp = (doc as { methodResponse?: unknown }).methodResponse;
  if (typeof resp !== 'object' || resp === null) throw new XmlRpcShapeError(method, `no <methodResponse>: ${body.slice(0, 80)}`);
  const r = resp as { params?: { param?: { value?: unknown } }; fault?: { value?: unknown } };
  if (r.fault !== undefined) {
    const f = decodeValue(method, r.fault.value);
    const fs = z.object({ faultCode: z.number(), faultString: z.string() }).safeParse(f);
    if (!fs.success) throw new XmlRpcShapeError(method, 'a <fault> without faultCode/faultString');
    throw new XmlRpcFault(method, fs.data.faultCode, fs.data.faultString);
  }
  const value = r.params?.param?.value;
  if (value === undefined) throw new XmlRpcShapeError(method, 'no <params><param><value>');
  return decodeValue(method, value);
}

/** A methodResponse body (the emulator-free tests and the fake oned of the unit tests use it). */
export function encodeResponse(value: XmlRpcValue): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\r\n<methodResponse>\r\n<params>\r\n<param><value>${encodeValue(value)}</value></param>\r\n</params>\r\n</methodResponse>\r\n`;
}

export function encodeFault(code: number, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\r\n<methodResponse>\r\n<fault>\r\n<value>${encodeValue({ faultCode: code, faultString: message })}</value>\r\n</fault>\r\n</methodResponse>\r\n`;
}

function encodeValue(v: XmlRpcValue): string {
  if (typeof v === 'string') return `<string>${escapeXml(v)}</string>`;
  if (typeof v === 'boolean') return `<boolean>${v ? 1 : 0}</boolean>`;
  if (typeof v === 'number') return Number.isInteger(v) ? (v >= INT32_MIN && v <= INT32_MAX ? `<i4>${v}</i4>` : `<i8>${v}</i8>`) : `<double>${v}</double>`;
  if (Array.isArray(v)) return `<array><data>\r\n${v.map((x) => `<value>${encodeValue(x)}</value>\r\n`).join('')}</data></array>`;
  return `<struct>${Object.entries(v)
    .map(([k, x]) => `<member><name>${escapeXml(k)}</name><value>${encodeValue(x)}</value></member>`)
    .join('')}</struct>`;
}
