// One SSH connection to a node (ssh2): commands, SFTP, and reverse tunnels (ssh -R) from the
// host's loopback back to this machine. Connection failures become EnvironmentErrors that say
// which node and why (unreachable, refused, authentication, timeout).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import type { Client, ClientChannel, ConnectConfig, SFTPWrapper } from 'ssh2';
import { EnvironmentError, InputError } from '../../common/index.js';
import type { SshNode } from './inventory.js';

/** `'it''s'` → a single-quoted POSIX shell word. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface ExecResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** What a failed connect means, in words (ssh2's errors carry a level or a socket code). */
export function describeConnectError(err: Error & { level?: string; code?: string }, node: Pick<SshNode, 'name' | 'host' | 'port' | 'user'>): string {
  const where = `${node.name} (${node.user}@${node.host}:${node.port})`;
  if (err.level === 'client-authentication') return `${where}: authentication failed (the key or agent was not accepted for user ${node.user})`;
  if (err.level === 'client-timeout' || err.code === 'ETIMEDOUT') return `${where}: no SSH handshake in time (host down, filtered, or not an SSH server)`;
  if (err.code === 'ECONNREFUSED') return `${where}: connection refused (no SSH server on port ${node.port})`;
  if (err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH') return `${where}: host unreachable`;
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return `${where}: unknown host ${node.host}`;
  if (err.level === 'host-key') return `${where}: ${err.message}`;
  return `${where}: ${err.message}`;
}

export class SshConnection {
  private sftpSession: Promise<SFTPWrapper> | null = null;
  private readonly tunnels = new Map<number, number>();
  private closed = false;
  /** the host key's SHA-256 fingerprint, as ssh-keygen prints it */
  hostKeyFingerprint = '';

  private constructor(
    readonly node: SshNode,
    readonly client: Client,
  ) {
    client.on('tcp connection', (info, accept, reject) => {
      const localPort = this.tunnels.get(info.destPort);
      if (localPort === undefined) return reject();
      const remote = accept();
      const local = netConnect(localPort, '127.0.0.1');
      remote.pipe(local).pipe(remote);
      const end = () => {
        local.destroy();
        remote.destroy();
      };
      local.on('error', end);
      remote.on('error', end);
      remote.on('close', end);
    });
  }

  /** Connects and authenticates (EnvironmentError when that fails; InputError for an unreadable key file). */
  static async open(node: SshNode, o: { timeoutS: number }): Promise<SshConnection> {
    const config: ConnectConfig = { host: node.host, port: node.port, username: node.user, readyTimeout: o.timeoutS * 1000, keepaliveInterval: 10_000, keepaliveCountMax: 3 };
    if (node.key) {
      try {
        config.privateKey = readFileSync(node.key);
      } catch (err) {
        throw new InputError(`${node.name}: cannot read key file ${node.key}: ${(err as Error).message}`);
      }
      if (node.passphrase) config.passphrase = node.passphrase;
    } else if (process.env.SSH_AUTH_SOCK) {
      config.agent = process.env.SSH_AUTH_SOCK;
    } else {
      throw new InputError(`${node.name}: no key file given and no SSH agent ($SSH_AUTH_SOCK is not set)`);
    }
    const { Client: SshClient } = await import('ssh2'); // loaded on use: start-up of every other command stays light
    const client = new SshClient();
    // ssh2 may emit more than one error for one failure (e.g. a reset after a timeout): the first one counts
    client.on('error', () => {});
    const conn = new SshConnection(node, client);
    let hostKeyProblem = '';
    config.hostVerifier = (key: Buffer) => {
      conn.hostKeyFingerprint = `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
      if (node.hostKey && node.hostKey.replace(/=+$/, '') !== conn.hostKeyFingerprint) {
        hostKeyProblem = `host key ${conn.hostKeyFingerprint} is not the inventory's ${node.hostKey}`;
        return false;
      }
      return true;
    };
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error & { level?: string; code?: string }) => {
        client.removeListener('ready', onReady);
        if (hostKeyProblem) err = Object.assign(new Error(hostKeyProblem), { level: 'host-key' });
        reject(new EnvironmentError(describeConnectError(err, node)));
      };
      const onReady = () => {
        // later errors surface as failed commands / a closed connection
        client.removeListener('error', onError);
        resolve();
      };
      client.once('error', onError);
      client.once('ready', onReady);
      client.connect(config);
    });
    client.once('close', () => {
      conn.closed = true;
    });
    return conn;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Runs a command; `stdin` is written and closed. Output kept up to 1 MiB each. */
  async exec(command: string, o: { stdin?: string | Buffer; timeoutMs?: number } = {}): Promise<ExecResult> {
    const channel = await this.channel(command);
    return new Promise((resolve, reject) => {
      let stdout = '';
      let stderr = '';
      let code: number | null = null;
      let signal: string | null = null;
      const timer = o.timeoutMs
        ? setTimeout(() => {
            channel.close();
            reject(new EnvironmentError(`${this.node.name}: \`${command.slice(0, 80)}\` did not finish in ${o.timeoutMs! / 1000} s`));
          }, o.timeoutMs)
        : null;
      channel.on('data', (d: Buffer) => {
        if (stdout.length < 2 ** 20) stdout += d.toString();
      });
      channel.stderr.on('data', (d: Buffer) => {
        if (stderr.length < 2 ** 20) stderr += d.toString();
      });
      channel.on('exit', (c: number | null, sig?: string) => {
        code = c;
        signal = sig ?? null;
      });
      channel.on('close', () => {
        if (timer) clearTimeout(timer);
        resolve({ code, signal, stdout, stderr });
      });
      if (o.stdin !== undefined) channel.end(o.stdin);
      else channel.end();
    });
  }

  /** A command's channel, left open (its stdin is the caller's to write and end). */
  channel(command: string): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err, ch) => (err ? reject(new EnvironmentError(`${this.node.name}: cannot run a command: ${err.message}`)) : resolve(ch)));
    });
  }

  sftp(): Promise<SFTPWrapper> {
    this.sftpSession ??= new Promise((resolve, reject) => {
      this.client.sftp((err, s) => (err ? reject(new EnvironmentError(`${this.node.name}: no SFTP subsystem: ${err.message}`)) : resolve(s)));
    });
    return this.sftpSession;
  }

  async put(local: string, remote: string, mode = 0o644): Promise<void> {
    const s = await this.sftp();
    await new Promise<void>((resolve, reject) => s.fastPut(local, remote, { mode }, (err) => (err ? reject(new EnvironmentError(`${this.node.name}: copying ${local} to ${remote}: ${err.message}`)) : resolve())));
  }

  async write(remote: string, data: string | Buffer, mode = 0o600): Promise<void> {
    const s = await this.sftp();
    await new Promise<void>((resolve, reject) => s.writeFile(remote, data, { mode }, (err) => (err ? reject(new EnvironmentError(`${this.node.name}: writing ${remote}: ${err.message}`)) : resolve())));
  }

  /** The bytes of `remote` from `offset` on (empty when the file does not exist yet). */
  async readFrom(remote: string, offset: number): Promise<Buffer> {
    const s = await this.sftp();
    return new Promise((resolve, reject) => {
      s.open(remote, 'r', (err, handle) => {
        if (err) return resolve(Buffer.alloc(0));
        const parts: Buffer[] = [];
        let at = offset;
        const next = () => {
          const buf = Buffer.allocUnsafe(256 * 1024);
          s.read(handle, buf, 0, buf.length, at, (e, n) => {
            if (e || n === 0) {
              s.close(handle, () => (e && (e as { code?: number }).code !== 1 ? reject(new EnvironmentError(`${this.node.name}: reading ${remote}: ${e.message}`)) : resolve(Buffer.concat(parts))));
              return;
            }
            parts.push(Buffer.from(buf.subarray(0, n)));
            at += n;
            next();
          });
        };
        next();
      });
    });
  }

  /** The host's 127.0.0.1:`port` leads to this machine's 127.0.0.1:`localPort` (ssh -R). */
  async tunnel(port: number, localPort = port): Promise<void> {
    this.tunnels.set(port, localPort);
    await new Promise<void>((resolve, reject) =>
      this.client.forwardIn('127.0.0.1', port, (err) =>
        err ? reject(new EnvironmentError(`${this.node.name}: cannot forward the host's 127.0.0.1:${port} back here (AllowTcpForwarding, or the port is in use there): ${err.message}`)) : resolve(),
      ),
    );
  }

  close(): void {
    this.closed = true;
    this.client.end();
  }
}
