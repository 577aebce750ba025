// Folders on SSH hosts that a killed edgeplane left behind. Ctrl-C and errors remove the run's
// folder; a SIGKILL of edgeplane (or of its machine) cannot, and its agents stop when their SSH
// channel closes but the folder stays. Each folder carries owner.json: the controller that made it
// (host name and machine id), its boot and its process (pid and start time). The next run on the
// node removes the folders of its own controller whose process is gone; a folder of another
// controller, or of a run still going, is left alone.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { z } from 'zod';
import { processStartTicks, type Logger } from '../../common/index.js';
import { shellQuote, type SshConnection } from './connection.js';
import type { SshNode } from './inventory.js';

export const OwnerSchema = z.object({
  controller: z.string(),
  bootId: z.string(),
  pid: z.number().int().positive(),
  start: z.string(),
});
export type Owner = z.infer<typeof OwnerSchema>;

export const OWNER_FILE = 'owner.json';
const TAG_BYTES = 6;

/** A run's tag: random hex, part of each folder it makes. */
export function newRunTag(): string {
  return randomBytes(TAG_BYTES).toString('hex');
}

const workBase = (node: SshNode): string => node.workDir.replace(/\/+$/, '');

/** The folder a run makes on a node: `<workDir>/edgeplane-<tag>-<node>`. */
export function runFolder(node: SshNode, tag: string): string {
  return `${workBase(node)}/edgeplane-${tag}-${node.name}`;
}

const readTrimmed = (file: string): string => {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
};

/** This process as the owner of the folders it makes. */
export function thisOwner(): Owner {
  return {
    controller: `${hostname()} ${readTrimmed('/etc/machine-id')}`.trim(),
    bootId: readTrimmed('/proc/sys/kernel/random/boot_id'),
    pid: process.pid,
    start: processStartTicks(process.pid) ?? '',
  };
}

/**
 * Whether the run that wrote `o` is over: true if it was this controller's and its process is
 * gone (another boot, or no process with that pid and start time); false if it still runs; null
 * if another controller wrote it (not ours to judge). Unreadable owners are null too.
 */
export function ownerGone(o: unknown, here: Owner = thisOwner(), startOf: (pid: number) => string | null = processStartTicks): boolean | null {
  const parsed = OwnerSchema.safeParse(o);
  if (!parsed.success || parsed.data.controller !== here.controller) return null;
  if (parsed.data.bootId !== here.bootId) return true;
  return startOf(parsed.data.pid) !== parsed.data.start;
}

/** `edgeplane-<tag>-<node>` folders in the node's work directory, each with its owner.json (null if none or unreadable). */
export async function listRunFolders(conn: SshConnection, node: SshNode): Promise<{ dir: string; owner: unknown }[]> {
  // runFolder with the tag as a glob (the rest quoted): every run's folder of this node
  const anyRun = `${shellQuote(workBase(node))}/edgeplane-${'?'.repeat(TAG_BYTES * 2)}-${shellQuote(node.name)}`;
  const script = `for d in ${anyRun}; do [ -d "$d" ] || continue; printf 'EPDIR %s\\n' "$d"; cat "$d/${OWNER_FILE}" 2>/dev/null | head -c 4096; printf '\\n'; done`;
  const r = await conn.exec(script, { timeoutMs: 30_000 });
  const out: { dir: string; owner: unknown }[] = [];
  const lines = r.stdout.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^EPDIR (.+)$/.exec(lines[i]!);
    if (!m) continue;
    let owner: unknown = null;
    try {
      owner = JSON.parse(lines[i + 1] ?? '');
    } catch {
      owner = null;
    }
    out.push({ dir: m[1]!, owner });
  }
  return out;
}

/** Removes the folders of this node that a dead run of this controller left (any agent still in one is killed first); returns them. */
export async function removeStaleFolders(conn: SshConnection, node: SshNode, log: Logger, here: Owner = thisOwner()): Promise<string[]> {
  const stale = (await listRunFolders(conn, node)).filter((f) => ownerGone(f.owner, here) === true).map((f) => f.dir);
  for (const dir of stale) {
    // the agent runs with its folder as working directory (remote.ts)
    const q = shellQuote(dir);
    const r = await conn.exec(`for p in /proc/[0-9]*; do [ "$(readlink "$p/cwd" 2>/dev/null)" = ${q} ] && kill -KILL "\${p#/proc/}" 2>/dev/null; done; rm -rf ${q} && echo EPOK`, { timeoutMs: 60_000 });
    if (!r.stdout.includes('EPOK')) log.warn({ node: node.name, dir, stderr: r.stderr.trim().slice(-300) }, 'could not remove a folder an earlier run left');
  }
  if (stale.length > 0) log.info({ node: node.name, removed: stale }, 'removed folders an earlier run left (its edgeplane was killed)');
  return stale;
}
