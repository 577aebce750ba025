import { describe, expect, it } from 'vitest';
import { ResponseShapeError } from '../../../adapters/transport/index.js';
import { checkOneResponse, decodeResponse, encodeCall, encodeFault, encodeResponse, kindOfOneError, OneError, parseEndpoint, XmlRpcFault, XmlRpcShapeError } from '../../../control-opennebula/client/index.js';

// a response as xmlrpc-c's Abyss server writes it (CRLF between elements, untyped string allowed)
const WIRE = `<?xml version="1.0" encoding="UTF-8"?>\r\n<methodResponse>\r\n<params>\r\n<param><value><array><data>\r\n<value><boolean>1</boolean></value>\r\n<value><string>&lt;VM&gt;&lt;ID&gt;3&lt;/ID&gt;&lt;/VM&gt;</string></value>\r\n<value><i4>0</i4></value>\r\n</data></array></value></param>\r\n</params>\r\n</methodResponse>\r\n`;

describe('XML-RPC encoding', () => {
  it('puts the params in order, typed, escaped', () => {
    const body = encodeCall('one.vm.deploy', ['oneadmin:p<w>&"', 7, 2, true, -1]);
    expect(body).toBe(
      '<?xml version="1.0"?><methodCall><methodName>one.vm.deploy</methodName><params>' +
        '<param><value><string>oneadmin:p&lt;w&gt;&amp;&quot;</string></value></param><param><value><int>7</int></value></param>' +
        '<param><value><int>2</int></value></param><param><value><boolean>1</boolean></value></param><param><value><int>-1</int></value></param></params></methodCall>',
    );
  });
  it('refuses non-integers and 64-bit values as int params, and odd method names', () => {
    expect(() => encodeCall('one.vm.info', ['s', 1.5])).toThrow(RangeError);
    expect(() => encodeCall('one.vm.info', ['s', 2 ** 31])).toThrow(RangeError);
    expect(() => encodeCall('one.vm.info</methodName>', [])).toThrow(RangeError);
  });
});

describe('XML-RPC decoding', () => {
  it('reads the OpenNebula response array of a real-shaped body', () => {
    expect(decodeResponse('one.vm.info', WIRE)).toEqual([true, '<VM><ID>3</ID></VM>', 0]);
  });
  it('round-trips what encodeResponse writes, i8 and untyped strings included', () => {
    const v = [false, '[one.vm.info] Error getting virtual machine [99].', 1024, 99, 'x'];
    expect(decodeResponse('m', encodeResponse(v))).toEqual(v);
    const body = encodeResponse([true, 5, 0]).replace('<i4>5</i4>', '<i8>-1</i8>').replace('<i4>0</i4>', 'untyped');
    expect(decodeResponse('m', body)).toEqual([true, -1, 'untyped']);
  });
  it('turns a <fault> into XmlRpcFault (xmlrpc-c -506: unknown method)', () => {
    const err = (() => {
      try {
        decodeResponse('one.nope', encodeFault(-506, "Method 'one.nope' not defined"));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(XmlRpcFault);
    expect((err as XmlRpcFault).faultCode).toBe(-506);
  });
  it('names what is wrong with a malformed body', () => {
    expect(() => decodeResponse('m', 'not xml at all <')).toThrow(XmlRpcShapeError);
    expect(() => decodeResponse('m', '<html><body>proxy error</body></html>')).toThrow(/no <methodResponse>/);
    expect(() => decodeResponse('m', encodeResponse([true, 1, 0]).replace('<i4>1</i4>', '<i4>one</i4>'))).toThrow(/not an integer/);
    expect(() => decodeResponse('m', encodeResponse([true, 1, 0]).replace('<i4>1</i4>', '<base64>AA==</base64>'))).toThrow(/unsupported XML-RPC type <base64>/);
  });
});

describe('the OpenNebula error model', () => {
  it('success is the value; failure a OneError with name, kind and object id', () => {
    expect(checkOneResponse('one.vm.allocate', [true, 12, 0])).toBe(12);
    const err = (() => {
      try {
        checkOneResponse('one.vm.info', [false, '[one.vm.info] Error getting virtual machine [99].', 0x400, 99, -1]);
      } catch (e) {
        return e as OneError;
      }
    })()!;
    expect(err).toBeInstanceOf(OneError);
    expect(err.errorName).toBe('NO_EXISTS');
    expect(err.controlErrorKind).toBe('notFound');
    expect(err.objectId).toBe(99);
    expect(err.message).toContain('[one.vm.info] Error getting virtual machine [99].');
  });
  it('maps every code to an agent error kind', () => {
    expect(kindOfOneError('AUTHENTICATION')).toBe('unauthorized');
    expect(kindOfOneError('AUTHORIZATION')).toBe('forbidden');
    expect(kindOfOneError('NO_EXISTS')).toBe('notFound');
    for (const n of ['ACTION', 'LOCKED', 'INTERNAL', 'REPLICATION'] as const) expect(kindOfOneError(n)).toBe('unavailable');
    for (const n of ['XML_RPC_API', 'ALLOCATE', 'UNKNOWN'] as const) expect(kindOfOneError(n)).toBe('invalid');
    // an empty message (seen when SQLite was locked) still says what failed
    expect(new OneError('one.vm.allocate', 0x2000, '', -1).message).toBe('one.vm.allocate: INTERNAL (8192): (empty message)');
  });
  it('refuses an answer that is not the array', () => {
    expect(() => checkOneResponse('m', 'text')).toThrow(ResponseShapeError);
    expect(() => checkOneResponse('m', [1, 2, 3])).toThrow(ResponseShapeError);
  });
  it('splits an endpoint into base and path', () => {
    expect(parseEndpoint('http://127.0.0.1:46000/RPC2')).toEqual({ base: 'http://127.0.0.1:46000', path: '/RPC2' });
    expect(parseEndpoint('http://h:2633')).toEqual({ base: 'http://h:2633', path: '/RPC2' });
    expect(() => parseEndpoint('ftp://h/RPC2')).toThrow(RangeError);
    expect(() => parseEndpoint('nope')).toThrow(RangeError);
  });
});
