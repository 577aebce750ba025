// Published CloudStack signature test vectors (facts): the developer guide's listUsers example,
// cloudmonkey's cmd/network_test.go (HmacSHA1 and HmacSHA512) and exoscale/cs tests.py.
import { describe, expect, it } from 'vitest';
import { canonicalString, javaUrlEncode, parseExpires, sign, verifySignature } from '../../../control-cloudstack/index.js';

describe('CloudStack request signing', () => {
  it('matches the developer guide example (dev.rst, listUsers)', () => {
    const params = { command: 'listUsers', response: 'json', apikey: 'plgWJfZK4gyS3mOMTVmjUVg-X-jlWlnfaUJ9GAbBbf9EdM-kAYMmAiLqzzq1ElZLYq_u38zCm0bewzGUdP66mg' };
    expect(sign(params, 'VDaACYb0LV9eNjTetIOElcVQkvJck_J_QljX_FcHRj87ZKiy0z0ty0ZsYBkoXkY9b7eq1EhwJaw7FF3akA3KBQ')).toBe('TTpdDq/7j/J58XCRHomKoQXEQds=');
  });

  it("matches cloudmonkey's HmacSHA1 and HmacSHA512 vectors", () => {
    const params = { apikey: 'abc', command: 'listZones', response: 'json' };
    expect(sign(params, 'secret', 'sha1')).toBe('tcMI1Kpm20pLhrrVYtCCcualuBU=');
    expect(sign(params, 'secret', 'sha512')).toBe('/JUUf9SPvNd0sjdbfIxsCxYItNUlGauI+T71cOhHd5fYffHuVAXIba9RzFBK+empezGCzlhw4+R9LFri3CG+oQ==');
  });

  it("matches exoscale/cs's vectors (plain, casing, unicode, maps, empty values, POST)", () => {
    expect(sign({ apiKey: 'foo', command: 'listVirtualMachines', listall: 'true', response: 'json' }, 'bar')).toBe('B0d6hBsZTcFVCiioSxzwKA9Pke8=');
    const casing = { apiKey: 'foo', command: 'listVirtualMachines', response: 'json', templateId: '3', temPlateidd: '4', zoneId: '2', page: '1', pageSize: '10' };
    expect(canonicalString(casing)).toContain('templateidd=4&templateid=3');
    expect(sign(casing, 'bar')).toBe('mMS7XALuGkCXk7kj5SywySku0Z0=');
    expect(sign({ apiKey: 'foo', command: 'listVirtualMachines', listall: '1', response: 'json', unicode_param: 'éèààû' }, 'bar')).toBe('gABU/KFJKD3FLAgKDuxQoryu4sA=');
    expect(sign({ apiKey: 'foo', command: 'listVirtualMachines', response: 'json', 'bar[0].foo': '1000', 'bar[0].baz': 'blah', foo: 'foo,bar', bytes_param: 'blah' }, 'bar')).toBe('ImJ/5F0P2RDL7yn4LdLnGcEx5WE=');
    expect(sign({ apiKey: 'foo', command: 'scaleVirtualMachine', id: 'a', 'details[0].cpunumber': '1000', 'details[0].memory': '640k', response: 'json' }, 'bar')).toBe('ZNl66z3gFhnsx2Eo3vvCIM0kAgI=');
    expect(sign({ apiKey: 'foo', command: 'createNetwork', name: '', display_text: '', response: 'json' }, 'bar')).toBe('CistTEiPt/4Rv1v4qSyILvPbhmg=');
    expect(sign({ apiKey: 'foo', command: 'listVirtualMachines', blah: 'brah', response: 'json' }, 'bar')).toBe('58VvLSaVUqHnG9DhXNOAiDFwBoA=');
  });

  it("encodes values as Java's URLEncoder (+ → %20) and leaves the signature out of the signed string", () => {
    expect(javaUrlEncode("a b~!'()*-._")).toBe('a%20b%7E%21%27%28%29*-._');
    expect(canonicalString({ b: '1', a: 'x y', signature: 'zzz' })).toBe('a=x%20y&b=1');
  });

  it('verifies either algorithm and refuses a changed parameter', () => {
    const p = { apiKey: 'k', command: 'listZones', response: 'json' };
    expect(verifySignature(p, 's', sign(p, 's', 'sha1'))).toBe('sha1');
    expect(verifySignature(p, 's', sign(p, 's', 'sha512'))).toBe('sha512');
    expect(verifySignature({ ...p, response: 'xml' }, 's', sign(p, 's'))).toBeNull();
    expect(verifySignature(p, 'other', sign(p, 's'))).toBeNull();
  });

  it('parses expires in the forms clients send', () => {
    expect(parseExpires('2011-10-10T12:00:00+0530')).toBe(Date.parse('2011-10-10T06:30:00Z'));
    expect(parseExpires('2026-01-01T00:00:00Z')).toBe(Date.parse('2026-01-01T00:00:00Z'));
    expect(parseExpires('2026-01-01T00:00:00+00:00')).toBe(Date.parse('2026-01-01T00:00:00Z'));
    expect(parseExpires('tomorrow')).toBeNull();
  });
});
