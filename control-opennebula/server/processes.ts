// The processes of a local front-end: started detached (they outlive `edgeplane up`), found again
// by pid and command line (a reused pid is not ours), and stopped by pid. The dummy IM's monitoring
// client is not a child of anything we started (the driver backgrounds it and exits): it is found
// by its command line, which names the remote-scripts folder under our state folder.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { EnvironmentError } from '../../common/index.js';

export function startDetached(cmd: string, args: string[], o: { log: string; env: NodeJS.ProcessEnv; cwd: string }): number {
  const fd = openSync(o.log, 'a');
  try {
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], env: o.env, cwd: o.cwd });
    if (child.pid === undefined) throw new EnvironmentError(`could not start ${cmd}`);
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

export function commandLine(pid: number): string | null {
  try {
    const text = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return null;
    return text.split('\0').join(' ').trim() || null;
  } catch {
    return null;
  }
}

/** alive and still running a command line that contains `marker` */
export function isRunning(pid: number | undefined, marker: string): boolean {
  if (pid === undefined) return false;
  const cmd = commandLine(pid);
  return cmd?.includes(marker) ?? false;
}

/** every live process whose command line contains `marker` (and is not this process) */
export function processesMatching(marker: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    const cmd = commandLine(Number(e));
    if (cmd?.includes(marker)) out.push(Number(e));
  }
  return out.sort((a, b) => a - b);
}

/** parent pid of each process (from /proc/<pid>/stat) */
function parents(): Map<number, number> {
  const m = new Map<number, number>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      m.set(Number(e), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  return m;
}

/** `pid` and its live descendants */
export function processTree(pid: number): number[] {
  const p = parents();
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) for (const [child, parent] of p) if (parent === tree[i]) tree.push(child);
  return tree.filter((x) => commandLine(x) !== null);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGTERM, then SIGKILL after `graceMs`; 'notRunning' when the pid is not ours any more. */
export async function stop(pid: number, marker: string, graceMs = 20_000): Promise<'stopped' | 'killed' | 'notRunning'> {
  if (!isRunning(pid, marker)) return 'notRunning';
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return 'notRunning';
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isRunning(pid, marker)) return 'stopped';
    await sleep(100);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // ended meanwhile
  }
  return 'killed';
}
