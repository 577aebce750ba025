// edgeplane's additions to an OpenNebula front-end for agent mode, one small HTTP server
// (`node edge-services.js <stateDir> <port>`, started by `up`): OpenNebula has no HTTP byte
// service for image data and no key service.
//   GET /images/{image_id}/sealed            ranged reads of a sealed blob (206)
//   GET /v1/secrets/{key_id}/payload         a data key (32 bytes, octet-stream)
//   GET /health
// Callers send their ONE session (`user:token`) in X-Auth-Token. The server checks it with oned
// (one.user.info as the caller; answers cached 300 s) and authorises with OpenNebula's own rules:
// a blob is readable by whoever may read the ONE image (one.image.info as the caller), a key by
// the ONE users its record lists.
import { createReadStream, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Transport } from '../../adapters/transport/index.js';
import { OneError } from '../client/errors.js';
import { asString, OneRpc } from '../client/rpc.js';
import { parseOneXml, UserSchema } from '../client/schemas.js';
import { blobFile, readKey } from './edge-store.js';
import { oneLayout } from './layout.js';
import { readCredentials } from './state.js';

export const TOKEN_CACHE_MS = 300_000;

interface Cached {
  user: string | null;
  until: number;
}

export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null | 'invalid' {
  if (header === undefined) return null;
  const m = /^bytes=(\d+)-(\d*)$/.exec(header.trim());
  if (!m) return 'invalid';
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start > end || start >= size) return 'invalid';
  return { start, end };
}

export function createEdgeServer(o: { endpoint: string; edgeDir: string; now?: () => number }) {
  const rpc = new OneRpc(o.endpoint, new Transport({ plane: 'opennebula', timeoutMs: 10_000 }));
  const now = o.now ?? Date.now;
  const users = new Map<string, Cached>();
  const images = new Map<string, Cached>();

  /** the ONE user name behind a session, null when oned refuses it */
  async function whoIs(session: string): Promise<string | null> {
    const c = users.get(session);
    if (c && c.until > now()) return c.user;
    let user: string | null = null;
    try {
      user = parseOneXml('one.user.info', asString('one.user.info', await rpc.call('one.user.info', session, [-1, false])), 'USER', UserSchema).NAME;
    } catch (err) {
      if (!(err instanceof OneError && err.errorName === 'AUTHENTICATION')) throw err;
    }
    users.set(session, { user, until: now() + TOKEN_CACHE_MS });
    return user;
  }

  async function mayReadImage(session: string, imageId: string): Promise<boolean> {
    const k = `${session}\n${imageId}`;
    const c = images.get(k);
    if (c && c.until > now()) return c.user !== null;
    let ok = false;
    try {
      await rpc.call('one.image.info', session, [Number(imageId), false]);
      ok = true;
    } catch (err) {
      if (!(err instanceof OneError)) throw err;
    }
    images.set(k, { user: ok ? 'ok' : null, until: now() + TOKEN_CACHE_MS });
    return ok;
  }

  const send = (res: ServerResponse, status: number, text: string) => {
    res.writeHead(status, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://edge');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'GET only\n');
    if (url.pathname === '/health') return send(res, 200, 'ok\n');
    const session = req.headers['x-auth-token'];
    if (typeof session !== 'string' || !session.includes(':')) return send(res, 401, 'X-Auth-Token: <ONE user>:<login token> required\n');
    const user = await whoIs(session);
    if (user === null) return send(res, 401, 'OpenNebula refused the session (AUTHENTICATION)\n');
    let m = /^\/images\/(\d{1,9})\/sealed$/.exec(url.pathname);
    if (m) {
      const imageId = m[1]!;
      if (!(await mayReadImage(session, imageId))) return send(res, 403, `user ${user} may not read OpenNebula image ${imageId}\n`);
      let size: number;
      const file = blobFile(o.edgeDir, imageId);
      try {
        size = statSync(file).size;
      } catch {
        return send(res, 404, `no sealed blob for image ${imageId}\n`);
      }
      const range = parseRange(req.headers.range, size);
      if (range === 'invalid') {
        res.writeHead(416, { 'Content-Range': `bytes */${size}` });
        return void res.end();
      }
      const { start, end } = range ?? { start: 0, end: size - 1 };
      res.writeHead(range ? 206 : 200, {
        'Content-Type': 'application/octet-stream',
        'Content-Length': end - start + 1,
        ...(range ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}),
        'Accept-Ranges': 'bytes',
      });
      if (req.method === 'HEAD' || size === 0) return void res.end();
      createReadStream(file, { start, end }).pipe(res);
      return;
    }
    m = /^\/v1\/secrets\/([A-Za-z0-9._-]{1,128})\/payload$/.exec(url.pathname);
    if (m) {
      const rec = readKey(o.edgeDir, m[1]!);
      if (!rec) return send(res, 404, `no secret ${m[1]}\n`);
      if (!rec.users.includes(user)) return send(res, 403, `user ${user} may not read secret ${m[1]}\n`);
      const key = Buffer.from(rec.key, 'base64');
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': key.length });
      return void res.end(key);
    }
    return send(res, 404, 'not found\n');
  }

  return createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // oned unreachable while checking the caller: the caller may retry
      if (!res.headersSent) send(res, 503, `cannot check the caller with oned: ${(err as Error).message}\n`);
      else res.destroy();
    });
  });
}

async function main(): Promise<void> {
  const [stateDir, portText] = process.argv.slice(2);
  const port = Number(portText);
  if (!stateDir || !Number.isInteger(port)) {
    process.stderr.write('usage: edge-services.js <stateDir> <port>\n');
    process.exit(2);
  }
  const l = oneLayout(stateDir);
  const c = readCredentials(l.credentialsFile);
  if (!c) {
    process.stderr.write(`no credentials in ${l.credentialsFile}\n`);
    process.exit(3);
  }
  const server = createEdgeServer({ endpoint: c.endpoint, edgeDir: l.edgeData });
  server.listen(port, '127.0.0.1', () => process.stdout.write(`edge services on 127.0.0.1:${port} (${join(l.edgeData)})\n`));
  const quit = () => server.close(() => process.exit(0));
  process.on('SIGTERM', quit);
  process.on('SIGINT', quit);
}

if (process.argv[1]?.endsWith('edge-services.js')) void main();
