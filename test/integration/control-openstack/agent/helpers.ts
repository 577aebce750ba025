// Shared by the agent-on-OpenStack integration tests: a private build of the CLI (dist/ may be
// rebuilt by other work at any moment), agents as real processes, their events, and stopping or
// restarting one service of the stack these tests use (by the pid `up` recorded, nothing else).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fleetStatus, isPortFree, loadOpenStackStack, upOpenStack, type Fleet, type OpenStackAgentFile, type ServiceName } from '../../../../control-openstack/index.js';
import type { LocalAgent } from '../../../../environments/index.js';
import type { AgentEventLine } from '../../../../reports/index.js';
import { parseAgentEvents } from '../../../../reports/index.js';

export { buildPrivateCli } from '../../../unit/agent/runtime/private-build.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitUntil<T>(what: string, fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs: number, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export function eventsOf(stateDir: string): AgentEventLine[] {
  const file = join(stateDir, 'events.ndjson');
  return existsSync(file) ? parseAgentEvents(readFileSync(file, 'utf8')) : [];
}

export type Image = { imageId: string; version: string };
export const same = (a: Image | null | undefined, b: Image) => !!a && a.imageId === b.imageId && a.version === b.version;

export function doneWith(lines: AgentEventLine[], image: Image): Extract<AgentEventLine, { type: 'done' }> | undefined {
  return lines.find((l): l is Extract<AgentEventLine, { type: 'done' }> => l.type === 'done' && same(l.image, image));
}

export function callsOf(lines: AgentEventLine[], op?: string): Extract<AgentEventLine, { type: 'call' }>[] {
  return lines.filter((l): l is Extract<AgentEventLine, { type: 'call' }> => l.type === 'call' && (op === undefined || l.op === op));
}

export function consoleLogs(stateDir: string): string {
  const vms = join(stateDir, 'vms');
  if (!existsSync(vms)) return '';
  return readdirSync(vms)
    .map((d) => join(vms, d, 'console.log'))
    .filter(existsSync)
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Kills one service of the stack in `stateDir` (its whole process group: `up` started it as a group leader) and waits for its port. */
export async function stopService(stateDir: string, name: ServiceName): Promise<void> {
  const stack = loadOpenStackStack(stateDir);
  const pid = stack.state.pids[name];
  if (pid === undefined) throw new Error(`the stack in ${stateDir} records no ${name} pid`);
  process.kill(-pid, 'SIGKILL');
  await waitUntil(`${name} (pid ${pid}) to end`, () => !alive(pid), 15_000, 100);
  await waitUntil(`${name}'s port ${stack.state.ports[name]} to be free`, () => isPortFree(stack.state.ports[name]), 15_000, 100);
}

/** `up` is idempotent: it starts what is not running (with the recorded ports) and waits for health. */
export async function restartStack(stateDir: string): Promise<void> {
  await upOpenStack({ stateDir });
}

/** Pretty-printing failures: the last lines of an agent's log. */
export function agentLogTail(stateDir: string, lines = 20): string {
  const f = join(stateDir, 'agent.log');
  return existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n').slice(-lines).join('\n') : '(no agent.log)';
}

export type { OpenStackAgentFile };

/**
 * Waits until every agent has deployed `image` (its `done` line, outcome running) and the operator
 * sees every node report RUNNING the pinned image; an agent that exits or fails ends the wait.
 */
export async function waitForDeployed(agents: readonly LocalAgent[], fleet: Fleet, nodes: Parameters<typeof fleetStatus>[1], image: Image, pin: Image, timeoutMs: number): Promise<void> {
  for (const a of agents) {
    await waitUntil(
      `${a.node} to deploy ${image.imageId}@${image.version}`,
      () => {
        if (!a.running) throw new Error(`agent ${a.node} exited: ${a.stderr}`);
        const done = doneWith(eventsOf(a.stateDir), image);
        if (done && done.outcome !== 'running') throw new Error(`${a.node}: ${JSON.stringify(done)}\n${agentLogTail(a.stateDir)}`);
        return done;
      },
      timeoutMs,
      500,
    );
  }
  // what the operator sees: every node reports RUNNING the image it pinned (the Glance id)
  await waitUntil(
    `reports of RUNNING ${pin.imageId}@${pin.version}`,
    async () => (await fleetStatus(fleet.operator, nodes)).every((s) => s.report?.status === 'RUNNING' && same(s.report.image, pin) && same(s.pin, pin)),
    30_000,
    500,
  );
}
