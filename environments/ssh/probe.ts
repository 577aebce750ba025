// What a node is: its OS, architecture, CPUs, memory, Node version and whether /dev/kvm is usable,
// asked over SSH with one command. A node without Node.js >= 20 is refused with a clear error.
import { EnvironmentError } from '../../common/index.js';
import { shellQuote, type SshConnection } from './connection.js';

export const MIN_NODE_MAJOR = 20;

export interface NodeMachine {
  os: string;
  arch: string;
  cpus: number;
  cpuModel?: string;
  memoryMiB: number;
  node: string;
  hostname: string;
  /** /dev/kvm exists and this user may open it read-write (whether guests run well is another matter) */
  kvm: boolean;
}

export type ProbeResult = { ok: true; machine: NodeMachine; nodePath: string } | { ok: false; uname: string; problem: string };

const NODE_SCRIPT = [
  'const os=require("os"),fs=require("fs");',
  'let kvm=false;try{fs.accessSync("/dev/kvm",fs.constants.R_OK|fs.constants.W_OK);kvm=true}catch{}',
  'const c=os.cpus();',
  'console.log("EPMACHINE "+JSON.stringify({os:process.platform,arch:process.arch,cpus:c.length,cpuModel:c[0]&&c[0].model,memoryMiB:Math.round(os.totalmem()/1048576),node:process.version,hostname:os.hostname(),kvm}))',
].join('');

/** The shell command the probe runs (POSIX sh: the login shell of the node's user runs it). */
export function probeCommand(node: string): string {
  const n = shellQuote(node);
  return `echo "EPUNAME $(uname -srm 2>/dev/null)"; P=$(command -v ${n} 2>/dev/null) || { echo EPNONODE; exit 0; }; echo "EPNODEPATH $P"; ${n} -e ${shellQuote(NODE_SCRIPT)}`;
}

/** Reads the probe's output (exported for the unit tests). */
export function parseProbe(stdout: string, stderr: string, nodeSetting: string): ProbeResult {
  const uname = /^EPUNAME (.*)$/m.exec(stdout)?.[1]?.trim() ?? 'unknown';
  if (/^EPNONODE$/m.test(stdout))
    return { ok: false, uname, problem: `no Node.js on the host (\`${nodeSetting}\` not found in the login PATH); install Node.js >= ${MIN_NODE_MAJOR} or set the node's \`node:\` path in the inventory` };
  const json = /^EPMACHINE (.*)$/m.exec(stdout)?.[1];
  if (!json) return { ok: false, uname, problem: `\`${nodeSetting}\` did not run: ${stderr.trim().split('\n').slice(-3).join(' ') || 'no output'}` };
  const machine = JSON.parse(json) as NodeMachine;
  const major = Number(/^v(\d+)\./.exec(machine.node)?.[1] ?? 0);
  if (major < MIN_NODE_MAJOR) return { ok: false, uname, problem: `Node.js ${machine.node} on the host; the agent needs Node.js >= ${MIN_NODE_MAJOR}` };
  if (machine.os !== 'linux') return { ok: false, uname, problem: `the host runs ${machine.os}; the agent runs on Linux` };
  return { ok: true, machine, nodePath: /^EPNODEPATH (.*)$/m.exec(stdout)?.[1]?.trim() ?? nodeSetting };
}

export async function probeNode(conn: SshConnection): Promise<ProbeResult> {
  const r = await conn.exec(probeCommand(conn.node.node), { timeoutMs: 30_000 });
  return parseProbe(r.stdout, r.stderr, conn.node.node);
}

/** The machine, or an EnvironmentError saying why the node cannot run the agent. */
export async function requireAgentHost(conn: SshConnection): Promise<{ machine: NodeMachine; nodePath: string }> {
  const p = await probeNode(conn);
  if (!p.ok) throw new EnvironmentError(`${conn.node.name} (${conn.node.host}): ${p.problem}`);
  return p;
}
