// The CloudStack API client on the instrumented transport: every call signed as ApiServer checks
// it (signing.ts; signatureVersion 3 with `expires`), the `<command>response` envelope unwrapped,
// CloudStack's error bodies turned into CloudStackApiError (errorcode = HTTP status), and async
// jobs polled with queryAsyncJobResult, backing off from `firstPollMs` up to `maxPollMs`.
import type { ControlErrorKind } from '../../agent/machine/index.js';
import { type CallRecorder, DEFAULT_RETRY, HttpError, ResponseShapeError, type RetryPolicy, Transport } from '../../adapters/transport/index.js';
import type { Logger } from '../../common/index.js';
import { formatExpires, sign, type SignatureAlgorithm } from '../api/signing.js';

/** Every status a management server answers a command with (ApiErrorCode); other 5xx are the transport's. */
const CS_STATUSES = [200, 401, 405, 411, 429, 430, 431, 432, 530, 531, 532, 533, 534, 535, 536, 537];

export class CloudStackApiError extends Error {
  readonly controlErrorKind: ControlErrorKind;
  constructor(
    readonly command: string,
    readonly errorcode: number,
    readonly cserrorcode: number | undefined,
    readonly errortext: string,
    /** set when the error came from a failed async job */
    readonly jobid?: string,
  ) {
    super(`${command}: CloudStack error ${errorcode}${cserrorcode ? ` (cserrorcode ${cserrorcode})` : ''}${jobid ? ` in job ${jobid}` : ''}: ${errortext}`);
    this.name = 'CloudStackApiError';
    this.controlErrorKind = errorcode === 401 ? 'unauthorized' : errorcode === 531 ? 'forbidden' : errorcode >= 530 || errorcode === 429 ? 'unavailable' : 'invalid';
  }
}

export interface CloudStackCredentials {
  apiKey: string;
  secretKey: string;
}

export interface CloudStackClientOptions extends CloudStackCredentials {
  /** the API endpoint, e.g. http://127.0.0.1:48080/client/api */
  url: string;
  recorder?: CallRecorder;
  retry?: RetryPolicy;
  timeoutMs?: number;
  logger?: Logger;
  algorithm?: SignatureAlgorithm;
  /** how long a signed request stays valid (signatureVersion 3); 0 sends the old unexpiring form */
  expiresInMs?: number;
  firstPollMs?: number;
  maxPollMs?: number;
  jobTimeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export type Answer = Record<string, unknown>;

export interface JobResult {
  jobid: string;
  jobstatus: number;
  jobresultcode: number;
  jobresult?: Answer;
  polls: number;
}

export class CloudStackClient {
  readonly transport: Transport;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(readonly o: CloudStackClientOptions) {
    this.transport = new Transport({ plane: 'cloudstack', recorder: o.recorder, retry: o.retry ?? DEFAULT_RETRY, timeoutMs: o.timeoutMs, logger: o.logger });
    this.sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  get recorder(): CallRecorder {
    return this.transport.recorder;
  }

  /** The signed parameters of one call (apiKey, response=json, signatureVersion/expires, signature). */
  signed(params: Record<string, string>): Record<string, string> {
    const p: Record<string, string> = { ...params, apiKey: this.o.apiKey, response: 'json' };
    const ttl = this.o.expiresInMs ?? 10 * 60_000;
    if (ttl > 0) {
      p.signatureVersion = '3';
      p.expires = formatExpires(Date.now() + ttl);
    }
    p.signature = sign(p, this.o.secretKey, this.o.algorithm ?? 'sha1');
    return p;
  }

  /** One synchronous command; answers the object under `<command>response`. */
  async call(command: string, params: Record<string, string | number | boolean | undefined> = {}, op = `cs.${command}`): Promise<Answer> {
    const p: Record<string, string> = { command };
    for (const [k, v] of Object.entries(params)) if (v !== undefined) p[k] = String(v);
    const res = await this.transport.request(this.o.url, { op, method: 'GET', path: '', query: this.signed(p), expect: CS_STATUSES, headers: { Accept: 'application/json' } });
    let data: unknown;
    try {
      data = JSON.parse(res.body.toString('utf8'));
    } catch {
      if (res.status !== 200) throw new HttpError(op, 'GET', this.o.url, res.status, res.body.subarray(0, 200).toString('utf8'));
      throw new ResponseShapeError(op, `not JSON: ${res.body.subarray(0, 80).toString('utf8')}`);
    }
    const keys = data && typeof data === 'object' ? Object.keys(data) : [];
    const inner = keys.length === 1 ? (data as Record<string, unknown>)[keys[0]!] : undefined;
    if (!inner || typeof inner !== 'object') {
      if (res.status !== 200) throw new HttpError(op, 'GET', this.o.url, res.status, res.body.subarray(0, 200).toString('utf8'));
      throw new ResponseShapeError(op, `no <command>response object in ${res.body.subarray(0, 120).toString('utf8')}`);
    }
    const body = inner as Answer;
    if (res.status !== 200) {
      if (typeof body.errorcode === 'number') throw new CloudStackApiError(command, body.errorcode, typeof body.cserrorcode === 'number' ? body.cserrorcode : undefined, String(body.errortext ?? ''));
      throw new HttpError(op, 'GET', this.o.url, res.status, res.body.subarray(0, 200).toString('utf8'));
    }
    if (keys[0] !== `${command.toLowerCase()}response`) throw new ResponseShapeError(op, `answer key ${keys[0]}, expected ${command.toLowerCase()}response`);
    return body;
  }

  /** A list command's items (`{}` is an empty list). */
  async list(command: string, item: string, params: Record<string, string | number | boolean | undefined> = {}): Promise<Answer[]> {
    const body = await this.call(command, params);
    const items = body[item];
    if (items === undefined) return [];
    if (!Array.isArray(items)) throw new ResponseShapeError(`cs.${command}`, `${item} is not a list`);
    return items as Answer[];
  }

  /** An async command: its immediate `{jobid, id?}`. */
  async submit(command: string, params: Record<string, string | number | boolean | undefined> = {}): Promise<{ jobid: string; id?: string }> {
    const body = await this.call(command, params);
    if (typeof body.jobid !== 'string') throw new ResponseShapeError(`cs.${command}`, 'no jobid in the answer of an async command');
    return { jobid: body.jobid, ...(typeof body.id === 'string' ? { id: body.id } : {}) };
  }

  /** Polls queryAsyncJobResult until jobstatus leaves 0; a failed job throws CloudStackApiError. */
  async waitForJob(jobid: string, command: string): Promise<JobResult> {
    let delay = this.o.firstPollMs ?? 500;
    const max = this.o.maxPollMs ?? 5_000;
    const deadline = Date.now() + (this.o.jobTimeoutMs ?? 30 * 60_000);
    for (let polls = 1; ; polls++) {
      await this.sleep(delay);
      const j = await this.call('queryAsyncJobResult', { jobid });
      if (j.jobstatus !== 0) {
        const result = (j.jobresult ?? {}) as Answer;
        if (j.jobstatus !== 1 || (typeof j.jobresultcode === 'number' && j.jobresultcode !== 0)) {
          throw new CloudStackApiError(command, Number(result.errorcode ?? j.jobresultcode ?? 530), undefined, String(result.errortext ?? 'job failed'), jobid);
        }
        return { jobid, jobstatus: 1, jobresultcode: 0, jobresult: result, polls };
      }
      if (Date.now() > deadline) throw new CloudStackApiError(command, 530, undefined, `job ${jobid} still pending after ${this.o.jobTimeoutMs ?? 1_800_000} ms`, jobid);
      delay = Math.min(max, Math.round(delay * 1.5));
    }
  }

  /** submit + waitForJob. */
  async run(command: string, params: Record<string, string | number | boolean | undefined> = {}): Promise<JobResult & { id?: string }> {
    const { jobid, id } = await this.submit(command, params);
    return { ...(await this.waitForJob(jobid, command)), ...(id ? { id } : {}) };
  }

  close(): void {
    this.transport.close();
  }
}
