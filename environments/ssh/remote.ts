// The agent on SSH nodes: per node, one SSH connection; the bundled agent, the trust key and the
// agent configuration copied into one folder of the node's work directory; the agent started
// through an exec channel whose stdin edgeplane keeps open (the agent stops when it closes); its
// events.ndjson read back over SFTP as it grows and mirrored into the local work directory (the
// same file a local real run reads); at the end the agent stopped and the folder removed.
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClientChannel } from 'ssh2';
import { stringify as toYaml } from 'yaml';
import { EnvironmentError, type Logger } from '../../common/index.js';
import { parseAgentEvents, type AgentEventLine } from '../../reports/index.js';
import { BUNDLE_PACKAGE_JSON } from './bundle.js';
import { shellQuote, SshConnection } from './connection.js';
import type { Inventory, SshNode } from './inventory.js';
import { requireAgentHost, type NodeMachine } from './probe.js';
import { OWNER_FILE, removeStaleFolders, runFolder, thisOwner } from './stale.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Loopback ports named by http(s) URLs anywhere in an agent's plane section. */
export function loopbackPorts(section: unknown): number[] {
  const ports = new Set<number>();
  const visit = (v: unknown) => {
    if (typeof v === 'string') {
      const m = /^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])(?::(\d+))?(?:\/|$)/.exec(v);
      if (m) ports.add(m[2] ? Number(m[2]) : v.startsWith('https') ? 443 : 80);
    } else if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === 'object') Object.values(v).forEach(visit);
  };
  visit(section);
  return [...ports].sort((a, b) => a - b);
}

/** The section with `localhost` / `[::1]` URLs pointed at 127.0.0.1 (where the tunnels listen on the host). */
export function viaTunnel<T>(section: T): T {
  const fix = (v: unknown): unknown => {
    if (typeof v === 'string') return v.replace(/^(https?:\/\/)(localhost|\[::1\])(?=[:/]|$)/, '$1127.0.0.1');
    if (Array.isArray(v)) return v.map(fix);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fix(x)]));
    return v;
  };
  return fix(section) as T;
}

/** One node of the inventory, connected and prepared: the agent and trust key copied. */
export class SshHost {
  private constructor(
    readonly node: SshNode,
    readonly conn: SshConnection,
    readonly machine: NodeMachine,
    readonly nodePath: string,
    /** the folder edgeplane made on the host */
    readonly dir: string,
  ) {}

  /** Connects, checks Node, removes what a killed earlier run left, makes `<workDir>/edgeplane-<tag>-<node>` (with its owner) and copies the agent bundle into it. */
  static async prepare(node: SshNode, o: { inventory: Inventory; tag: string; bundle: string; log: Logger }): Promise<SshHost> {
    const conn = await SshConnection.open(node, { timeoutS: o.inventory.connectTimeoutS });
    try {
      const { machine, nodePath } = await requireAgentHost(conn);
      await removeStaleFolders(conn, node, o.log);
      // per node, not per host: one host may be several nodes of the inventory (or share a filesystem)
      const dir = runFolder(node, o.tag);
      // the owner with the folder, so a run killed at any point leaves a folder the next one can judge
      const made = await conn.exec(`umask 077 && mkdir -p ${shellQuote(`${dir}/trust`)} && cat > ${shellQuote(`${dir}/${OWNER_FILE}`)} && echo EPOK`, {
        stdin: `${JSON.stringify(thisOwner())}\n`,
        timeoutMs: 30_000,
      });
      if (!made.stdout.includes('EPOK')) throw new EnvironmentError(`${node.name}: cannot create ${dir}: ${made.stderr.trim().slice(-500)}`);
      const host = new SshHost(node, conn, machine, nodePath, dir);
      await conn.put(o.bundle, `${dir}/agent.mjs`, 0o644);
      await conn.write(`${dir}/package.json`, BUNDLE_PACKAGE_JSON, 0o644);
      o.log.info({ node: node.name, host: node.host, dir, machine }, 'ssh node prepared');
      return host;
    } catch (err) {
      conn.close();
      throw err;
    }
  }

  /** The publisher's public key, which the agent's manifests must verify against. */
  async copyTrust(trustFile: string): Promise<void> {
    await this.conn.put(trustFile, `${this.dir}/trust/publisher.pub`, 0o644);
  }

  /** Forwards the host's 127.0.0.1:port to this machine's, for every port. */
  async tunnel(ports: number[]): Promise<void> {
    for (const p of ports) await this.conn.tunnel(p);
  }

  /** Starts the agent of one repeat with `config` (its stateDir and trust set to paths on the host here). */
  async start(repeat: number, config: Record<string, unknown>, localDir: string): Promise<RemoteAgent> {
    const rdir = `${this.dir}/repeat-${repeat}`;
    const stateDir = `${rdir}/state`;
    const made = await this.conn.exec(`umask 077 && mkdir -p ${shellQuote(stateDir)} && echo EPOK`, { timeoutMs: 30_000 });
    if (!made.stdout.includes('EPOK')) throw new EnvironmentError(`${this.node.name}: cannot create ${stateDir}: ${made.stderr.trim().slice(-500)}`);
    const body = { ...config, stateDir, trust: [`${this.dir}/trust/publisher.pub`] };
    await this.conn.write(`${rdir}/agent.yaml`, `# edgeplane agent configuration (edgeplane run --env real --inventory)\n${toYaml(body)}`, 0o600);
    const channel = await this.conn.channel(`cd ${shellQuote(this.dir)} && exec ${shellQuote(this.nodePath)} agent.mjs --config ${shellQuote(`${rdir}/agent.yaml`)}`);
    return new RemoteAgent(this, channel, stateDir, localDir);
  }

  /** Removes the folder edgeplane made (the agents are stopped first) and closes the connection. */
  async remove(): Promise<void> {
    try {
      if (this.conn.isOpen) await this.conn.exec(`rm -rf ${shellQuote(this.dir)}`, { timeoutMs: 60_000 });
    } finally {
      this.conn.close();
    }
  }
}

/** An agent process on an SSH node (stopped by closing its stdin; SIGKILL by pid as the fallback). */
export class RemoteAgent {
  stderr = '';
  private stdoutText = '';
  private eventsText = '';
  private offset = 0;
  private exitedFlag = false;
  readonly exited: Promise<number | null>;
  private polling: Promise<void> | null = null;
  private stopPolling = false;
  readonly eventsFile: string;

  constructor(
    readonly host: SshHost,
    private readonly channel: ClientChannel,
    readonly remoteStateDir: string,
    readonly localDir: string,
  ) {
    mkdirSync(localDir, { recursive: true });
    this.eventsFile = join(localDir, 'events.ndjson');
    writeFileSync(this.eventsFile, '');
    channel.on('data', (d: Buffer) => {
      if (this.stdoutText.length < 16_384) this.stdoutText += d.toString();
    });
    channel.stderr.on('data', (d: Buffer) => {
      if (this.stderr.length < 16_384) this.stderr += d.toString();
    });
    let code: number | null = null;
    channel.on('exit', (c: number | null) => {
      code = c;
    });
    this.exited = new Promise((r) =>
      channel.once('close', () => {
        this.exitedFlag = true;
        r(code);
      }),
    );
    this.polling = this.poll();
  }

  get node(): string {
    return this.host.node.name;
  }

  get running(): boolean {
    return !this.exitedFlag;
  }

  /** the agent's pid on the host, once it printed it */
  get pid(): number | null {
    const m = /^EPAGENT (\d+)$/m.exec(this.stdoutText);
    return m ? Number(m[1]) : null;
  }

  /** the events read back so far (refreshed about twice a second) */
  events(): AgentEventLine[] {
    const whole = this.eventsText.slice(0, this.eventsText.lastIndexOf('\n') + 1);
    return parseAgentEvents(whole);
  }

  private async fetchEvents(): Promise<void> {
    const more = await this.host.conn.readFrom(`${this.remoteStateDir}/events.ndjson`, this.offset);
    if (more.length === 0) return;
    this.offset += more.length;
    const text = more.toString('utf8');
    this.eventsText += text;
    appendFileSync(this.eventsFile, text);
  }

  private async poll(): Promise<void> {
    while (!this.stopPolling && this.host.conn.isOpen) {
      await this.fetchEvents().catch(() => {});
      await sleep(500);
    }
  }

  /** Closes the agent's stdin (it stops its VM and exits); SIGKILL by pid after `graceMs`; then the last events and agent.log are read back. */
  async stop(graceMs = 20_000): Promise<number | null> {
    if (this.running) this.channel.end();
    let timer: NodeJS.Timeout | undefined;
    const forced = new Promise<null>((r) => {
      timer = setTimeout(async () => {
        const pid = this.pid;
        if (this.running && pid !== null && this.host.conn.isOpen) await this.host.conn.exec(`kill -KILL ${pid}`, { timeoutMs: 10_000 }).catch(() => {});
        this.channel.close();
        r(null);
      }, graceMs);
    });
    const code = await Promise.race([this.exited, forced]);
    clearTimeout(timer);
    this.stopPolling = true;
    await this.polling;
    if (this.host.conn.isOpen) {
      await this.fetchEvents().catch(() => {});
      const log = await this.host.conn.readFrom(`${this.remoteStateDir}/agent.log`, 0).catch(() => Buffer.alloc(0));
      writeFileSync(join(this.localDir, 'agent.log'), log);
    }
    return code;
  }
}
