// Start service processes detached (they outlive `edgeplane up`), and stop exactly those, by pid.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { EnvironmentError } from '../../common/index.js';

export function spawnDetached(cmd: string, args: string[], opts: { log: string; env?: NodeJS.ProcessEnv; cwd?: string }): number {
  const fd = openSync(opts.log, 'a');
  try {
    const child = spawn(cmd, args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, ...opts.env },
      cwd: opts.cwd,
    });
    if (child.pid === undefined) throw new EnvironmentError(`could not start ${cmd}`);
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

export function cmdlineOf(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return null;
  }
}

/** The pid is alive and still runs the program we started (guards against pid reuse). */
export function isOurProcess(pid: number, commandPart: string): boolean {
  const cmd = cmdlineOf(pid);
  if (cmd === null || cmd === '') return false;
  if (isZombie(pid)) return false;
  return cmd.includes(commandPart);
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

export async function stopProcess(pid: number, commandPart: string, graceMs = 15_000): Promise<'stopped' | 'notRunning' | 'killed'> {
  if (!isOurProcess(pid, commandPart)) return 'notRunning';
  process.kill(pid, 'SIGTERM');
  // an exiting process drops its cmdline before it is gone: wait for /proc to say it has ended
  if (await ended(pid, commandPart, graceMs)) return 'stopped';
  // SIGKILL the group: we started the process as a group leader (detached), so the group is ours
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    process.kill(pid, 'SIGKILL');
  }
  await ended(pid, commandPart, 5_000);
  return 'killed';
}

/**
 * Waits until the pid has exited, up to `ms`: gone, a zombie left for its parent, or reused by
 * another program (a non-empty cmdline that is not ours; an exiting process has an empty one).
 */
async function ended(pid: number, commandPart: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    const cmd = cmdlineOf(pid);
    if (cmd === null || isZombie(pid) || (cmd !== '' && !cmd.includes(commandPart))) return true;
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
}

/** pid and all its descendants (from /proc). */
export function processTree(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parentOf.set(Number(entry), Number(fields[1]));
    } catch {
      // the process ended while we looked
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const [child, parent] of parentOf) if (parent === tree[i]) tree.push(child);
  }
  return tree.filter((p) => existsSync(`/proc/${p}`));
}

export async function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
