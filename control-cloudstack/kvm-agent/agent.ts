// edgeplane's "KVM agent" for a CloudStack host: like cloudstack-agent it opens the connection to
// the management server (connect, then long polls for commands; nothing connects to the node),
// and on a StartCommand it puts the template on its primary pool and boots it with the project's
// hypervisor driver (sim or qemu). A direct-download template is fetched from its URL by the host
// itself and its checksum checked (MD5 by default, or the {SHA-256}-style prefixed form), as
// KVMStorageProcessor.handleDownloadTemplateToPrimaryStorage does; any other template is copied
// from secondary storage once per pool. Copies are cached per pool (template_spool_ref).
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { z } from 'zod';
import { CallRecorder, NO_RETRY, Transport } from '../../adapters/transport/index.js';
import type { Hypervisor } from '../../agent/index.js';
import { silentLogger, type Logger } from '../../common/index.js';

export interface KvmAgentOptions {
  /** the management server's base URL, e.g. http://127.0.0.1:48080 */
  managementUrl: string;
  hostid: string;
  token: string;
  /** primary storage: <dir>/<poolid>/<templateid> */
  primaryDir: string;
  hypervisor: Hypervisor;
  logger?: Logger;
  recorder?: CallRecorder;
  /** how long the VM may take to print its boot marker */
  bootTimeoutMs?: number;
  /** longest long poll (the server caps it too) */
  pollWaitMs?: number;
  /** pause before reconnecting after a failed connect or poll */
  reconnectMs?: number;
}

const commandSchema = z.object({ seq: z.number().int(), name: z.enum(['StartCommand', 'StopCommand']), body: z.record(z.string(), z.unknown()) });
const startSchema = z.object({
  vm: z.object({ id: z.string(), name: z.string() }),
  template: z.object({ id: z.string(), name: z.string(), url: z.string(), checksum: z.string().optional(), directDownload: z.boolean(), secondaryUrl: z.string().optional() }),
  pool: z.object({ id: z.string() }),
});

export interface Copied {
  templateid: string;
  poolid: string;
  bytes: number;
  how: 'directDownload' | 'copyFromSecondary' | 'cached';
}

/** `{SHA-256}hex` or bare MD5 hex → node hash name and hex. */
export function checksumOf(text: string): { algorithm: string; hex: string } | null {
  const m = /^(?:\{(MD5|SHA-1|SHA-256|SHA-512)\})?([0-9a-fA-F]+)$/.exec(text.trim());
  if (!m) return null;
  return { algorithm: { MD5: 'md5', 'SHA-1': 'sha1', 'SHA-256': 'sha256', 'SHA-512': 'sha512' }[(m[1] ?? 'MD5') as 'MD5'], hex: m[2]!.toLowerCase() };
}

export class KvmAgent {
  readonly recorder: CallRecorder;
  private readonly channel: Transport;
  private readonly data: Transport;
  private readonly log: Logger;
  private session: string | null = null;
  private stopped = false;
  private loop: Promise<void> | null = null;
  private readonly inFlight = new Map<string, Promise<Copied>>();

  constructor(private readonly o: KvmAgentOptions) {
    this.recorder = o.recorder ?? new CallRecorder();
    this.log = o.logger ?? silentLogger;
    this.channel = new Transport({ plane: 'cloudstack', recorder: new CallRecorder(), retry: NO_RETRY, timeoutMs: (o.pollWaitMs ?? 20_000) + 15_000, logger: this.log });
    this.data = new Transport({ plane: 'cloudstack', recorder: this.recorder, retry: NO_RETRY, timeoutMs: 600_000, logger: this.log });
  }

  /** Connects and serves commands until `stop`; resolves once the first connect succeeded. */
  async start(): Promise<void> {
    await this.connect();
    this.loop = this.serve();
  }

  /** Stops asking for commands (the current long poll still runs to its end). */
  halt(): void {
    this.stopped = true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.channel.close();
    await this.loop?.catch(() => undefined);
    await this.o.hypervisor.stop();
    this.data.close();
  }

  private async connect(): Promise<void> {
    const answer = await this.channel.json(this.o.managementUrl, { op: 'cs.agent.connect', method: 'POST', path: '/agent/v1/connect', body: { json: { hostid: this.o.hostid, token: this.o.token } } }, (d) =>
      z.object({ session: z.string() }).parse(d),
    );
    this.session = answer.session;
    this.log.info({ host: this.o.hostid }, 'connected to the management server');
  }

  private async serve(): Promise<void> {
    while (!this.stopped) {
      try {
        if (this.session === null) await this.connect();
        const res = await this.channel.json(
          this.o.managementUrl,
          { op: 'cs.agent.poll', method: 'GET', path: '/agent/v1/commands', query: { wait: this.o.pollWaitMs ?? 20_000 }, headers: { 'X-Agent-Session': this.session! } },
          (d) => z.object({ commands: z.array(commandSchema) }).parse(d),
        );
        for (const cmd of res.commands) void this.execute(cmd);
      } catch (err) {
        if (this.stopped) return;
        this.session = null;
        this.log.warn({ err: (err as Error).message }, 'management server connection lost: reconnecting');
        await new Promise((r) => setTimeout(r, this.o.reconnectMs ?? 1_000));
      }
    }
  }

  private async execute(cmd: z.infer<typeof commandSchema>): Promise<void> {
    let answer: { result: boolean; details?: string; copied?: Copied };
    try {
      if (cmd.name === 'StopCommand') {
        await this.o.hypervisor.stop();
        answer = { result: true };
      } else answer = await this.startVm(startSchema.parse(cmd.body));
    } catch (err) {
      answer = { result: false, details: (err as Error).message };
    }
    try {
      await this.channel.request(this.o.managementUrl, { op: 'cs.agent.answer', method: 'POST', path: '/agent/v1/answers', headers: { 'X-Agent-Session': this.session ?? '' }, body: { json: { seq: cmd.seq, answer } } });
    } catch (err) {
      this.log.warn({ seq: cmd.seq, err: (err as Error).message }, 'could not post the answer');
    }
  }

  private async startVm(s: z.infer<typeof startSchema>): Promise<{ result: boolean; details?: string; copied?: Copied }> {
    let copied: Copied;
    try {
      copied = await this.ensureOnPool(s);
    } catch (err) {
      return { result: false, details: (err as Error).message };
    }
    const path = join(this.o.primaryDir, s.pool.id, s.template.id);
    try {
      await this.o.hypervisor.start({ imageId: s.template.name, version: s.template.id, path });
      await this.o.hypervisor.waitForMarker(this.o.bootTimeoutMs ?? 120_000);
    } catch (err) {
      return { result: false, details: `VM ${s.vm.name} did not boot: ${(err as Error).message}`, copied };
    }
    return { result: true, copied };
  }

  /** The template on this pool: cached, downloaded (direct) or copied from secondary storage. One fetch at a time per template. */
  private ensureOnPool(s: z.infer<typeof startSchema>): Promise<Copied> {
    const key = `${s.pool.id}/${s.template.id}`;
    const running = this.inFlight.get(key);
    if (running) return running;
    const p = this.fetchToPool(s).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, p);
    return p;
  }

  private async fetchToPool(s: z.infer<typeof startSchema>): Promise<Copied> {
    const dir = join(this.o.primaryDir, s.pool.id);
    const file = join(dir, s.template.id);
    const cached = await stat(file).catch(() => null);
    if (cached) return { templateid: s.template.id, poolid: s.pool.id, bytes: cached.size, how: 'cached' };
    await mkdir(dir, { recursive: true });
    const tmp = `${file}.part`;
    const direct = s.template.directDownload;
    if (!direct && !s.template.secondaryUrl) throw new Error(`template ${s.template.id} is neither direct download nor on secondary storage`);
    const want = direct && s.template.checksum ? checksumOf(s.template.checksum) : null;
    if (direct && s.template.checksum && !want) throw new Error(`Checksum validation failed: cannot read checksum ${s.template.checksum}`);
    const hash = createHash(want?.algorithm ?? 'md5');
    let bytes = 0;
    try {
      const res = direct
        ? await this.data.stream(s.template.url, { op: 'cs.agent.directDownload', method: 'GET', path: '' })
        : await this.data.stream(s.template.secondaryUrl!, { op: 'cs.agent.copyTemplateToPrimary', method: 'GET', path: '', headers: { 'X-Agent-Session': this.session ?? '' } });
      const counter = new Transform({
        transform(chunk: Buffer, _e, cb) {
          bytes += chunk.length;
          hash.update(chunk);
          cb(null, chunk);
        },
      });
      await pipeline(res.stream, counter, createWriteStream(tmp));
      if (want) {
        const got = hash.digest('hex');
        if (got !== want.hex) throw new Error(`Checksum validation failed for template ${s.template.name}: expected ${want.hex}, downloaded ${got}`);
      }
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err instanceof Error && /Checksum/.test(err.message) ? err : new Error(`Failed to ${direct ? 'download' : 'copy'} template ${s.template.name} to pool ${s.pool.id}: ${(err as Error).message}`);
    }
    this.log.info({ template: s.template.id, pool: s.pool.id, bytes, direct }, 'template on primary storage');
    return { templateid: s.template.id, poolid: s.pool.id, bytes, how: direct ? 'directDownload' : 'copyFromSecondary' };
  }
}
