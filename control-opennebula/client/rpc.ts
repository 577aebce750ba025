// One XML-RPC call to oned over the instrumented transport (one CallRecord per attempt, op = the
// method name, path /RPC2), and the OpenNebula response array checked: [true, value, 0] is the
// value; [false, message, code, resp_id, ...] is a OneError carrying its ControlError kind.
import { ResponseShapeError, type Transport } from '../../adapters/transport/index.js';
import { OneError } from './errors.js';
import { decodeResponse, encodeCall, type XmlRpcParam, type XmlRpcValue } from './xmlrpc.js';

export interface OneEndpoint {
  /** scheme://host:port */
  base: string;
  /** the RPC path, `/RPC2` */
  path: string;
}

/** `http://host:port/RPC2` split into the transport's base URL and path. */
export function parseEndpoint(url: string): OneEndpoint {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new RangeError(`not a URL: ${JSON.stringify(url)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new RangeError(`OpenNebula endpoint must be http(s)://host:port/RPC2, got ${url}`);
  return { base: `${u.protocol}//${u.host}`, path: u.pathname === '/' ? '/RPC2' : u.pathname };
}

export class OneRpc {
  readonly endpoint: OneEndpoint;
  constructor(
    url: string,
    readonly transport: Transport,
  ) {
    this.endpoint = parseEndpoint(url);
  }

  get url(): string {
    return `${this.endpoint.base}${this.endpoint.path}`;
  }

  /** `method(session, ...params)`: the value of a successful call; OneError / XmlRpcFault otherwise. */
  async call(method: string, session: string, params: readonly XmlRpcParam[] = [], op: string = method): Promise<XmlRpcValue> {
    const res = await this.transport.request(this.endpoint.base, {
      op,
      method: 'POST',
      path: this.endpoint.path,
      headers: { 'Content-Type': 'text/xml' },
      body: encodeCall(method, [session, ...params]),
    });
    const value = decodeResponse(method, res.body.toString('utf8'));
    return checkOneResponse(method, value);
  }
}

/** The OpenNebula response array: success value, or a OneError. */
export function checkOneResponse(method: string, value: XmlRpcValue): XmlRpcValue {
  if (!Array.isArray(value) || value.length < 2 || typeof value[0] !== 'boolean') {
    throw new ResponseShapeError(method, `not an OpenNebula [success, value, code] array: ${JSON.stringify(value).slice(0, 120)}`);
  }
  if (value[0]) return value[1]!;
  const message = typeof value[1] === 'string' ? value[1] : String(value[1]);
  const code = typeof value[2] === 'number' ? value[2] : -1;
  const objectId = typeof value[3] === 'number' ? value[3] : -1;
  throw new OneError(method, code, message, objectId);
}

export function asInt(method: string, v: XmlRpcValue): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new ResponseShapeError(method, `expected an integer, got ${JSON.stringify(v).slice(0, 80)}`);
  return v;
}

export function asString(method: string, v: XmlRpcValue): string {
  if (typeof v !== 'string') throw new ResponseShapeError(method, `expected a string, got ${JSON.stringify(v).slice(0, 80)}`);
  return v;
}
