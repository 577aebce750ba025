// A small fake oned for unit tests: an HTTP server speaking XML-RPC with OpenNebula's response
// arrays; the handler gets the method name and the decoded parameters (session first).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { XMLParser } from 'fast-xml-parser';
import { encodeResponse, type XmlRpcValue } from '../../../control-opennebula/index.js';

const parser = new XMLParser({ parseTagValue: false, isArray: (_n, j) => String(j).endsWith('params.param') });

export type FakeArg = string | number | boolean;

function params(body: string): { method: string; args: FakeArg[] } {
  const doc = parser.parse(body) as { methodCall: { methodName: string; params?: { param: { value: Record<string, string> }[] } } };
  const args = (doc.methodCall.params?.param ?? []).map((p) => {
    const [type, v] = Object.entries(p.value)[0]!;
    return type === 'int' ? Number(v) : type === 'boolean' ? v === '1' : String(v ?? '');
  });
  return { method: doc.methodCall.methodName, args };
}

export interface FakeOned {
  url: string;
  close(): void;
}

/** `handler` returns the response array, or null after destroying the connection (a lost answer). */
export async function fakeOned(handler: (method: string, args: FakeArg[], res: { destroy(): void }) => XmlRpcValue | null): Promise<FakeOned> {
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const { method, args } = params(body);
      const v = handler(method, args, { destroy: () => res.socket?.destroy() });
      if (v === null) return;
      res.writeHead(200, { 'Content-Type': 'text/xml' });
      res.end(encodeResponse(v));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/RPC2`, close: () => server.close() };
}
