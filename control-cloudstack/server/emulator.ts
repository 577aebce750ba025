// The CloudStack management-server emulator's HTTP side (node:http): the API at /client/api
// (signed requests or a login session, JSON or XML answers, CloudStack's error bodies), the KVM
// agents' channel at /agent/v1 (agents connect out to it), secondary storage at /secondary for the
// agents' copies, and the two services edgeplane adds for agent mode: an HTTP origin of sealed
// images (/origin) and a KMS (/kms/v1/secrets), both checking the caller's signed request.
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listenTracked, type TrackedServer } from '../../common/http/index.js';
import { join } from 'node:path';
import { z } from 'zod';
import { silentLogger, type Logger } from '../../common/index.js';
import { API_ERROR, CS_ERROR, UNAUTHORIZED_TEXT, UNKNOWN_COMMAND_TEXT } from '../api/errors.js';
import { parseExpires, verifySignature } from '../api/signing.js';
import { ApiError, Cloud, type Caller } from './cloud.js';
import { PIN_TAG } from '../client/node-plane.js';
import { COMMAND_MAP, type Params } from './commands.js';
import type { StateDb } from './db.js';
import { errorBody, serialise } from './render.js';
import type { HostRec, SecretRec, TagRec } from './types.js';

const ORIGIN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface EmulatorOptions {
  db: StateDb;
  stateDir: string;
  host?: string;
  port?: number;
  logger?: Logger;
  agentTimeoutMs?: number;
  pingTimeoutMs?: number;
  /** a long poll's longest wait */
  pollWaitMs?: number;
}

interface Session {
  userid: string;
  sessionkey: string;
  expires: number;
}

const SESSION_TIMEOUT_MS = 30 * 60_000;
const MAX_BODY = 1024 * 1024;

class HttpReply extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const connectSchema = z.strictObject({ hostid: z.string().min(1), token: z.string().min(1) });
const answerSchema = z.strictObject({
  seq: z.number().int(),
  answer: z.object({
    result: z.boolean(),
    details: z.string().optional(),
    copied: z.object({ templateid: z.string(), poolid: z.string(), bytes: z.number().int().nonnegative(), how: z.enum(['directDownload', 'copyFromSecondary', 'cached']) }).optional(),
  }),
});
const secretSchema = z.strictObject({ payload: z.base64(), readers: z.array(z.string()).max(10_000) });

export class CloudStackEmulator {
  readonly cloud: Cloud;
  private server: TrackedServer | null = null;
  private readonly sessions = new Map<string, Session>();
  private readonly log: Logger;
  private sweeper: NodeJS.Timeout | null = null;
  private port: number;

  constructor(private readonly o: EmulatorOptions) {
    this.log = o.logger ?? silentLogger;
    this.port = o.port ?? 0;
    this.cloud = new Cloud({ db: o.db, stateDir: o.stateDir, logger: this.log, agentTimeoutMs: o.agentTimeoutMs, pingTimeoutMs: o.pingTimeoutMs });
  }

  get url(): string {
    return `http://${this.o.host ?? '127.0.0.1'}:${this.port}`;
  }
  get apiUrl(): string {
    return `${this.url}/client/api`;
  }

  async start(): Promise<string> {
    if (this.server) return this.url;
    const server = await listenTracked((req, res) => void this.handle(req, res), { port: this.port, host: this.o.host });
    this.port = server.port;
    this.server = server;
    this.cloud.publicUrl = this.url;
    this.sweeper = setInterval(() => this.cloud.hub.sweep(), 5_000);
    this.sweeper.unref();
    this.log.info({ url: this.url }, 'cloudstack emulator listening');
    return this.url;
  }

  async stop(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.cloud.close();
    const server = this.server;
    this.server = null;
    await server?.close();
    await this.cloud.settle();
    this.cloud.db.flush();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    try {
      if (url.pathname === '/client/api' || url.pathname === '/client/api/') return await this.api(req, res, url);
      if (url.pathname.startsWith('/agent/v1/')) return await this.agent(req, res, url);
      if (url.pathname.startsWith('/secondary/')) return await this.secondary(req, res, url);
      if (url.pathname.startsWith('/origin/')) return await this.origin(req, res, url);
      if (url.pathname.startsWith('/kms/v1/secrets')) return await this.kms(req, res, url);
      throw new HttpReply(404, `no such path ${url.pathname}`);
    } catch (err) {
      const status = err instanceof HttpReply ? err.status : 500;
      if (status === 500) this.log.error({ err }, 'emulator internal error');
      if (!res.headersSent) sendJson(res, status, { error: (err as Error).message });
      else res.destroy();
    }
  }

  // ---- /client/api ----

  private async api(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const params: Record<string, string> = {};
    for (const [k, v] of url.searchParams) if (!(k in params)) params[k] = v;
    if (req.method === 'POST') {
      const body = (await readBody(req)).toString('utf8');
      const type = req.headers['content-type'] ?? '';
      if (type.startsWith('application/x-www-form-urlencoded') || (body.includes('=') && !type.startsWith('multipart/'))) {
        for (const [k, v] of new URLSearchParams(body)) if (!(k in params)) params[k] = v;
      }
    } else if (req.method !== 'GET') throw new HttpReply(405, 'use GET or POST');
    const format = (params.response ?? 'xml').toLowerCase() === 'json' ? 'json' : 'xml';
    const command = params.command ?? '';
    const reply = (status: number, key: string, body: Record<string, unknown>, headers: Record<string, string | string[]> = {}) => {
      const { text, type } = serialise(key, body as never, format);
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text), ...headers }).end(text);
    };
    const fail = (e: ApiError, known = true) => {
      const key = e.errorcode === API_ERROR.UNSUPPORTED_ACTION_ERROR || !known ? 'errorresponse' : `${command.toLowerCase()}response`;
      reply(e.errorcode, key, errorBody(e.errorcode, e.cserrorcode, e.message), { 'x-description': e.message });
    };
    const unauthorized = () => fail(new ApiError(API_ERROR.UNAUTHORIZED, CS_ERROR.SERVER_API, UNAUTHORIZED_TEXT), COMMAND_MAP.has(command));
    if (command === 'login') return this.login(params, reply, fail);
    if (command === 'logout') {
      const sid = cookie(req, 'JSESSIONID');
      if (sid) this.sessions.delete(sid);
      return reply(200, 'logoutresponse', { description: 'success' });
    }
    const caller = this.authenticate(req, params);
    const spec = COMMAND_MAP.get(command);
    if (!spec) {
      if (command === '') return unauthorized();
      return fail(new ApiError(API_ERROR.UNSUPPORTED_ACTION_ERROR, CS_ERROR.SERVER_API, UNKNOWN_COMMAND_TEXT), false);
    }
    if (caller === 'unauthorized') return unauthorized();
    if (spec.admin && !caller.admin)
      return fail(new ApiError(API_ERROR.UNSUPPORTED_ACTION_ERROR, CS_ERROR.SERVER_API, `The given command:${command} does not exist or it is not available for user with id:${caller.user.id}`), false);
    try {
      const result = spec.run(this.cloud, caller, params);
      this.cloud.db.flush();
      reply(200, `${command.toLowerCase()}response`, result.body);
    } catch (err) {
      this.cloud.db.flush();
      if (err instanceof ApiError) return fail(err);
      this.log.error({ err, command }, 'command failed');
      fail(new ApiError(API_ERROR.INTERNAL_ERROR, CS_ERROR.SERVER_API, `Internal error executing command, please contact your system administrator: ${(err as Error).message}`));
    }
  }

  /** A signed request (ApiServer.verifyRequest) or a login session with its sessionkey. */
  private authenticate(req: IncomingMessage, params: Params): Caller | 'unauthorized' {
    const sid = cookie(req, 'JSESSIONID');
    const sessionkey = params.sessionkey ?? cookie(req, 'sessionkey');
    if (sid && sessionkey && params.signature === undefined) {
      const s = this.sessions.get(sid);
      if (!s || s.sessionkey !== sessionkey || s.expires < Date.now()) return 'unauthorized';
      s.expires = Date.now() + SESSION_TIMEOUT_MS;
      return this.callerOf(s.userid) ?? 'unauthorized';
    }
    return this.verifySigned(params);
  }

  /** Checks a signed parameter set; also used by the origin and the KMS. */
  verifySigned(params: Params): Caller | 'unauthorized' {
    let apiKey: string | undefined;
    let version: string | undefined;
    let expires: string | undefined;
    let signature: string | undefined;
    for (const [k, v] of Object.entries(params)) {
      const l = k.toLowerCase();
      if (l === 'signature') signature = v;
      else if (l === 'apikey') apiKey = v;
      else if (l === 'signatureversion') version = v;
      else if (l === 'expires') expires = v;
    }
    if (!signature || !apiKey) return 'unauthorized';
    if (version === '3') {
      const at = expires === undefined ? null : parseExpires(expires);
      if (at === null || at < Date.now()) return 'unauthorized';
    }
    const found = this.cloud.userByApiKey(apiKey);
    if (!found?.user.secretkey) return 'unauthorized';
    // "disabled or locked user accessing the api": refused like a bad signature
    if ((found.account.state ?? 'enabled') !== 'enabled') return 'unauthorized';
    if (verifySignature(params, found.user.secretkey, signature) === null) return 'unauthorized';
    return { ...found, admin: found.account.accounttype === 1 };
  }

  private callerOf(userid: string): Caller | null {
    const user = this.cloud.db.get<import('./types.js').UserRec>('users', userid)?.data;
    const account = user && this.cloud.db.get<import('./types.js').AccountRec>('accounts', user.accountid)?.data;
    return user && account && (account.state ?? 'enabled') === 'enabled' ? { user, account, admin: account.accounttype === 1 } : null;
  }

  private login(params: Params, reply: (s: number, k: string, b: Record<string, unknown>, h?: Record<string, string | string[]>) => void, fail: (e: ApiError) => void): void {
    const found = params.username ? this.cloud.userByName(params.username) : null;
    if (!found || !params.password || (found.account.state ?? 'enabled') !== 'enabled' || !this.cloud.checkPassword(found.user, params.password)) {
      return fail(new ApiError(API_ERROR.ACCOUNT_ERROR, CS_ERROR.SERVER_API, `Failed to authenticate user ${params.username ?? ''} in domain 1; please provide valid credentials`));
    }
    const sid = randomBytes(16).toString('hex').toUpperCase();
    const sessionkey = randomBytes(20).toString('base64url');
    this.sessions.set(sid, { userid: found.user.id, sessionkey, expires: Date.now() + SESSION_TIMEOUT_MS });
    const a = found.account;
    reply(
      200,
      'loginresponse',
      {
        username: found.user.username,
        userid: found.user.id,
        domainid: a.domainid,
        timeout: SESSION_TIMEOUT_MS / 1000,
        account: a.name,
        firstname: found.user.username,
        lastname: a.name,
        type: a.accounttype === 1 ? 'ADMIN' : 'USER',
        timezone: 'UTC',
        registered: 'false',
        sessionkey,
      },
      { 'set-cookie': [`JSESSIONID=${sid}; Path=/client; HttpOnly`, `sessionkey=${sessionkey}; Path=/client`] },
    );
  }

  // ---- the KVM agents' channel ----

  private async agent(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const what = url.pathname.slice('/agent/v1/'.length);
    if (what === 'connect' && req.method === 'POST') {
      const body = connectSchema.safeParse(await readJson(req));
      if (!body.success) throw new HttpReply(400, 'connect takes {hostid, token}');
      const host = this.cloud.db.get<HostRec>('hosts', body.data.hostid)?.data;
      if (!host || !sameText(host._agentToken, body.data.token)) throw new HttpReply(401, 'unknown host or wrong agent token');
      const session = this.cloud.hub.connect(host.id);
      return sendJson(res, 200, { session, host: { id: host.id, name: host.name, poolid: host.poolid, zoneid: host.zoneid } });
    }
    const session = String(req.headers['x-agent-session'] ?? '');
    if (this.cloud.hub.hostOf(session) === null) throw new HttpReply(401, 'no agent session: connect first');
    if (what === 'commands' && req.method === 'GET') {
      const wait = Math.min(Number(url.searchParams.get('wait') ?? 20_000) || 0, this.o.pollWaitMs ?? 20_000);
      const cmds = await this.cloud.hub.poll(session, wait);
      if (cmds === null) throw new HttpReply(401, 'agent session replaced');
      return sendJson(res, 200, { commands: cmds });
    }
    if (what === 'answers' && req.method === 'POST') {
      const body = answerSchema.safeParse(await readJson(req));
      if (!body.success) throw new HttpReply(400, 'answers take {seq, answer}');
      if (!this.cloud.hub.answer(session, body.data.seq, body.data.answer)) throw new HttpReply(404, `no command ${body.data.seq} is waiting`);
      res.writeHead(204).end();
      this.cloud.db.flush();
      return;
    }
    throw new HttpReply(404, `no agent route ${req.method} ${what}`);
  }

  private async secondary(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (this.cloud.hub.hostOf(String(req.headers['x-agent-session'] ?? '')) === null) throw new HttpReply(401, 'secondary storage is for connected agents');
    const id = decodeURIComponent(url.pathname.slice('/secondary/'.length));
    if (!/^[0-9a-f-]{36}$/.test(id)) throw new HttpReply(404, 'no such template');
    await sendFile(req, res, join(this.cloud.secondaryDir, id));
  }

  // ---- the added services of agent mode ----

  /** A request signed like an API call, over its path: `apiKey, expires, signatureVersion=3, path`. */
  private signedCaller(url: URL): Caller {
    const params: Record<string, string> = { path: url.pathname };
    for (const [k, v] of url.searchParams) params[k] = v;
    if (!params.expires) throw new HttpReply(401, UNAUTHORIZED_TEXT);
    const caller = this.verifySigned(params);
    if (caller === 'unauthorized') throw new HttpReply(401, UNAUTHORIZED_TEXT);
    return caller;
  }

  private pinOf(accountid: string): string | null {
    return this.cloud.list<TagRec>('tags').find((t) => t.resourcetype === 'Account' && t.resourceid === accountid && t.key === PIN_TAG)?.value ?? null;
  }

  /**
   * The origin's files: <state>/origin/<image id>/<version>/{manifest,sealed}, put there by the
   * publisher (as it would copy them into a web server's document root). A node reads only the
   * image its pin tag names; a root admin reads any.
   */
  private async origin(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const caller = this.signedCaller(url);
    const m = /^\/origin\/(manifests|templates)\/([^/]+)\/([^/]+?)(\/sealed)?$/.exec(url.pathname);
    if (!m || (m[1] === 'templates') !== (m[4] !== undefined)) throw new HttpReply(404, `no origin path ${url.pathname}`);
    const [imageId, version] = [decodeURIComponent(m[2]!), decodeURIComponent(m[3]!)];
    if (!ORIGIN_NAME.test(imageId) || !ORIGIN_NAME.test(version)) throw new HttpReply(404, `no image ${imageId}@${version}`);
    if (!caller.admin && this.pinOf(caller.account.id) !== `${imageId}@${version}`) throw new HttpReply(403, `${imageId}@${version} is not assigned to account ${caller.account.name}`);
    await sendFile(req, res, join(this.cloud.originDir, imageId, version, m[1] === 'manifests' ? 'manifest' : 'sealed'));
  }

  private async kms(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const caller = this.signedCaller(url);
    if (url.pathname === '/kms/v1/secrets' && req.method === 'POST') {
      if (!caller.admin) throw new HttpReply(403, 'only a root admin stores secrets');
      const body = secretSchema.safeParse(await readJson(req));
      if (!body.success) throw new HttpReply(400, 'a secret is {payload: base64, readers: [account ids]}');
      const rec: SecretRec = { id: randomUUID(), payload: body.data.payload, readers: body.data.readers, created: Date.now() };
      this.cloud.db.put('secrets', rec.id, rec);
      this.cloud.db.flush();
      return sendJson(res, 201, { id: rec.id, secret_ref: `${this.url}/kms/v1/secrets/${rec.id}` });
    }
    const m = /^\/kms\/v1\/secrets\/([0-9a-f-]{36})(\/payload|\/acl)$/.exec(url.pathname);
    if (!m) throw new HttpReply(404, `no KMS path ${url.pathname}`);
    const secret = this.cloud.db.get<SecretRec>('secrets', m[1]!)?.data;
    if (m[2] === '/acl' && req.method === 'PUT') {
      if (!caller.admin) throw new HttpReply(403, 'only a root admin changes a secret ACL');
      if (!secret) throw new HttpReply(404, `no secret ${m[1]}`);
      const body = z.strictObject({ readers: z.array(z.string()).max(10_000) }).safeParse(await readJson(req));
      if (!body.success) throw new HttpReply(400, 'an ACL is {readers: [account ids]}');
      this.cloud.db.put('secrets', secret.id, { ...secret, readers: body.data.readers });
      this.cloud.db.flush();
      res.writeHead(204).end();
      return;
    }
    if (m[2] !== '/payload' || req.method !== 'GET') throw new HttpReply(405, 'GET a payload');
    if (!secret) throw new HttpReply(caller.admin ? 404 : 403, `no secret ${m[1]} readable by ${caller.account.name}`);
    if (!caller.admin && !secret.readers.includes(caller.account.id)) throw new HttpReply(403, `account ${caller.account.name} may not read secret ${secret.id}`);
    const payload = Buffer.from(secret.payload, 'base64');
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': payload.length }).end(payload);
  }
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const part of req) {
    total += (part as Buffer).length;
    if (total > MAX_BODY) throw new HttpReply(413, 'body too large');
    parts.push(part as Buffer);
  }
  return Buffer.concat(parts);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  try {
    return JSON.parse((await readBody(req)).toString('utf8'));
  } catch (err) {
    if (err instanceof HttpReply) throw err;
    throw new HttpReply(400, 'body is not JSON');
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

/** A file, whole or one `bytes=a-b` range (206; 416 past the end). */
async function sendFile(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  const size = (
    await stat(path).catch(() => {
      throw new HttpReply(404, 'no such file');
    })
  ).size;
  const header = req.headers.range;
  let start = 0;
  let end = size - 1;
  let status = 200;
  if (header !== undefined) {
    const m = /^bytes=(\d+)-(\d*)$/.exec(header.trim());
    if (!m || Number(m[1]) >= size || (m[2] !== '' && Number(m[2]) < Number(m[1]))) {
      res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
      return;
    }
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    status = 206;
  }
  const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream', 'content-length': Math.max(0, end - start + 1), 'accept-ranges': 'bytes' };
  if (status === 206) headers['content-range'] = `bytes ${start}-${end}/${size}`;
  res.writeHead(status, headers);
  if (size === 0) {
    res.end();
    return;
  }
  const stream = createReadStream(path, { start, end, highWaterMark: 1024 * 1024 });
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}
