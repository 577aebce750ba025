// The management server's side of the KVM agents' connections. CloudStack's agent opens the
// connection to the management server (port 8250) and commands flow back over it; here the agent
// connects out over HTTP: `connect` (its StartupRoutingCommand), then long polls for commands and
// posts each answer. A host whose agent has not polled for `pingTimeoutMs` is Disconnected. An
// agent that connects again (restarted after a crash) ends its old session: the commands sent to
// that session fail at once, as CloudStack's AgentAttache cancels them on disconnect, instead of
// waiting for their timeout.
import { randomBytes } from 'node:crypto';

export interface AgentCommand {
  seq: number;
  name: 'StartCommand' | 'StopCommand';
  body: Record<string, unknown>;
}

export interface AgentAnswer {
  result: boolean;
  details?: string;
  /** per pool: what the agent copied or downloaded for this start */
  copied?: { templateid: string; poolid: string; bytes: number; how: 'directDownload' | 'copyFromSecondary' | 'cached' };
}

interface Link {
  hostid: string;
  session: string;
  queue: AgentCommand[];
  waiter: ((cmds: AgentCommand[]) => void) | null;
  lastSeen: number;
}

interface Pending {
  hostid: string;
  resolve: (a: AgentAnswer) => void;
  timer: NodeJS.Timeout;
}

export class AgentHub {
  private readonly links = new Map<string, Link>();
  private readonly bySession = new Map<string, Link>();
  private readonly pending = new Map<number, Pending>();
  private seq = 0;

  constructor(
    private readonly pingTimeoutMs: number,
    private readonly onChange: (hostid: string, up: boolean) => void,
  ) {}

  connect(hostid: string): string {
    const old = this.links.get(hostid);
    if (old) {
      this.bySession.delete(old.session);
      old.waiter?.([]);
      this.failPending(hostid, `host ${hostid} disconnected: its agent connected again`);
    }
    const link: Link = { hostid, session: randomBytes(18).toString('base64url'), queue: [], waiter: null, lastSeen: Date.now() };
    this.links.set(hostid, link);
    this.bySession.set(link.session, link);
    this.onChange(hostid, true);
    return link.session;
  }

  hostOf(session: string): string | null {
    return this.bySession.get(session)?.hostid ?? null;
  }

  isUp(hostid: string): boolean {
    const link = this.links.get(hostid);
    return !!link && (link.waiter !== null || Date.now() - link.lastSeen < this.pingTimeoutMs);
  }

  /** The agent's long poll: commands at once if queued, else the first one to come or [] after `waitMs`. */
  poll(session: string, waitMs: number): Promise<AgentCommand[]> | null {
    const link = this.bySession.get(session);
    if (!link) return null;
    link.lastSeen = Date.now();
    if (link.queue.length > 0) return Promise.resolve(link.queue.splice(0));
    link.waiter?.([]);
    return new Promise((resolve) => {
      const timer = setTimeout(() => done([]), waitMs);
      const done = (cmds: AgentCommand[]) => {
        clearTimeout(timer);
        if (link.waiter === done) link.waiter = null;
        link.lastSeen = Date.now();
        resolve(cmds);
      };
      link.waiter = done;
    });
  }

  answer(session: string, seq: number, answer: AgentAnswer): boolean {
    if (!this.bySession.has(session)) return false;
    const p = this.pending.get(seq);
    if (!p) return false;
    this.pending.delete(seq);
    clearTimeout(p.timer);
    p.resolve(answer);
    return true;
  }

  /** Sends a command to the host's agent and waits for its answer (a failed answer on timeout). */
  send(hostid: string, name: AgentCommand['name'], body: Record<string, unknown>, timeoutMs: number): Promise<AgentAnswer> {
    const link = this.links.get(hostid);
    if (!link || !this.isUp(hostid)) return Promise.resolve({ result: false, details: `host ${hostid} is not connected` });
    const cmd: AgentCommand = { seq: ++this.seq, name, body };
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(cmd.seq);
        resolve({ result: false, details: `${name} timed out after ${timeoutMs} ms waiting for the agent of host ${hostid}` });
      }, timeoutMs);
      this.pending.set(cmd.seq, { hostid, resolve, timer });
      if (link.waiter) link.waiter([cmd]);
      else link.queue.push(cmd);
    });
  }

  private failPending(hostid: string, details: string): void {
    for (const [seq, p] of this.pending) {
      if (p.hostid !== hostid) continue;
      this.pending.delete(seq);
      clearTimeout(p.timer);
      p.resolve({ result: false, details });
    }
  }

  /** Marks hosts whose agents went silent as disconnected. */
  sweep(): void {
    for (const [hostid, link] of this.links) {
      if (!this.isUp(hostid)) {
        this.links.delete(hostid);
        this.bySession.delete(link.session);
        this.failPending(hostid, `host ${hostid} disconnected: its agent went silent`);
        this.onChange(hostid, false);
      }
    }
  }

  close(): void {
    for (const link of this.links.values()) link.waiter?.([]);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.resolve({ result: false, details: 'management server shutting down' });
    }
    this.pending.clear();
  }
}
