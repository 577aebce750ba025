// How the management server serialises answers: `{"<command>response": {...}}` in JSON (the
// default in this emulator's clients) or the same tree in XML (`response=xml`, CloudStack's own
// default); lists as `{count, <object>: [...]}` with an empty list as `{}`; fields with no value
// left out; errors as `{uuidList, errorcode, cserrorcode, errortext}` with the HTTP status equal
// to errorcode.
export const CLOUDSTACK_VERSION = '4.19.1.0';
export const JSON_TYPE = 'application/json; charset=UTF-8';
export const XML_TYPE = 'text/xml; charset=UTF-8';

export type Json = string | number | boolean | null | undefined | Json[] | { [k: string]: Json };

/** Drops undefined/null fields and empty arrays (CloudStack omits them). */
export function prune(value: Json): Json {
  if (Array.isArray(value)) return value.map(prune);
  if (value && typeof value === 'object') {
    const out: Record<string, Json> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined || v === null) continue;
      if (Array.isArray(v) && v.length === 0) continue;
      out[k] = prune(v);
    }
    return out;
  }
  return value;
}

/** A list answer: `{}` when empty, else `{count, <name>: items}`. */
export function listBody(name: string, items: Json[], count = items.length): Record<string, Json> {
  return items.length === 0 ? {} : { count, [name]: items };
}

export function errorBody(errorcode: number, cserrorcode: number, errortext: string): Record<string, Json> {
  return { uuidList: [], errorcode, cserrorcode, errortext };
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

function xmlOf(name: string, value: Json): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return value.map((v) => xmlOf(name, v)).join('');
  if (typeof value === 'object')
    return `<${name}>${Object.entries(value)
      .map(([k, v]) => xmlOf(k, v))
      .join('')}</${name}>`;
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

/** The whole answer text and its content type. */
export function serialise(responseKey: string, body: Json, format: 'json' | 'xml'): { text: string; type: string } {
  const pruned = prune(body);
  if (format === 'json') return { text: JSON.stringify({ [responseKey]: pruned }), type: JSON_TYPE };
  const inner =
    pruned && typeof pruned === 'object' && !Array.isArray(pruned)
      ? Object.entries(pruned)
          .map(([k, v]) => xmlOf(k, v))
          .join('')
      : escapeXml(String(pruned));
  return { text: `<?xml version="1.0" encoding="UTF-8"?><${responseKey} cloud-stack-version="${CLOUDSTACK_VERSION}">${inner}</${responseKey}>`, type: XML_TYPE };
}

/** CloudStack's date form, e.g. 2021-10-04T09:24:38+0000. */
export function csDate(epochMs: number): string {
  return `${new Date(epochMs).toISOString().slice(0, 19)}+0000`;
}
