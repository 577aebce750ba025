// Ranged GETs on node:http with keep-alive, read straight into one buffer of the expected size,
// recorded in the same CallRecord shape as the Transport. Why not the Transport: Node 20's fetch
// (undici web streams) moves ~170 MiB/s per process on loopback here, node:http ~3x that; the
// data path is where that matters. Errors are the Transport's (HttpError, connection errors), so
// `toControlError` maps them alike.
import http from 'node:http';
import type { PlaneName } from '../model.js';
import { buildUrl, HttpError, type CallRecorder } from '../transport.js';

const EXCERPT = 300;

export interface RangeReaderOptions {
  plane: PlaneName;
  recorder: CallRecorder;
  timeoutMs: number;
  /** sockets kept open per host (at least the agent's ranges in flight) */
  maxSockets?: number;
}

export class RangeReader {
  private readonly agent: http.Agent;

  constructor(private readonly opts: RangeReaderOptions) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 16 });
  }

  /** GET `length` bytes at `offset`; resolves with what arrived (the caller verifies it). */
  get(baseUrl: string, spec: { op: string; path: string; params: Record<string, string>; headers: Record<string, string> }, offset: number, length: number): Promise<Buffer> {
    const url = buildUrl(baseUrl, spec);
    const started = performance.now();
    let bytesIn = 0;
    const record = (status: number) =>
      this.opts.recorder.record({ op: spec.op, plane: this.opts.plane, method: 'GET', path: spec.path, url, status, bytesOut: 0, bytesIn, ms: performance.now() - started, attempt: 1 });
    return new Promise<Buffer>((resolve, reject) => {
      const req = http.get(url, { agent: this.agent, headers: { ...spec.headers, Range: `bytes=${offset}-${offset + length - 1}` } }, (res) => {
        const status = res.statusCode ?? 0;
        const out = Buffer.allocUnsafe(length);
        const extra: Buffer[] = [];
        res.on('data', (d: Buffer) => {
          const fits = Math.max(0, Math.min(d.length, length - bytesIn));
          d.copy(out, bytesIn, 0, fits);
          if (fits < d.length) extra.push(d.subarray(fits));
          bytesIn += d.length;
        });
        res.on('error', (err) => {
          record(status);
          reject(err);
        });
        res.on('end', () => {
          record(status);
          if (status !== 206) {
            const body = Buffer.concat([out.subarray(0, Math.min(bytesIn, length)), ...extra]).toString('utf8');
            reject(new HttpError(spec.op, 'GET', url, status, body.replace(/\s+/g, ' ').trim().slice(0, EXCERPT)));
          } else resolve(extra.length === 0 ? out.subarray(0, bytesIn) : Buffer.concat([out, ...extra]));
        });
      });
      req.setTimeout(this.opts.timeoutMs, () => req.destroy(Object.assign(new Error(`${spec.op}: no answer within ${this.opts.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', (err) => {
        if (bytesIn === 0) record(0);
        reject(err);
      });
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
