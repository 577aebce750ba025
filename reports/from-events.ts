// Result samples from what real edge agents recorded (their `events.ndjson`, docs/agent.md):
// one deployment per node from its phase marks, `done` line and call records, then the same
// deployment records every environment returns (reports/records.ts), on integer µs since the
// rollout's t0; reports/deployments.ts turns them into samples. Pure: no I/O, no clock.
import { z } from 'zod';
import type { Phase } from '../agent/machine/index.js';
import { PHASE_INDEX, RunRecords } from './records.js';

const assignment = z.object({ imageId: z.string(), version: z.string() });

/** The lines of events.ndjson this module reads (others are skipped). */
const EventLineSchema = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('start'), t: z.number() }),
  z.looseObject({ type: z.literal('mark'), t: z.number(), phase: z.string(), edge: z.enum(['start', 'end']) }),
  z.looseObject({ type: z.literal('done'), t: z.number(), image: assignment, outcome: z.enum(['running', 'failed']), reason: z.string().optional() }),
  z.looseObject({ type: z.literal('status'), t: z.number(), status: z.string(), running: assignment.nullable() }),
  z.looseObject({ type: z.literal('call'), t: z.number(), op: z.string(), status: z.number(), bytesIn: z.number(), bytesOut: z.number(), attempt: z.number().optional() }),
  z.looseObject({ type: z.literal('stop'), t: z.number() }),
]);
export type AgentEventLine = z.infer<typeof EventLineSchema>;

/** Parses events.ndjson text: a torn last line (no newline after a SIGKILL) and unknown lines are skipped. */
export function parseAgentEvents(text: string): AgentEventLine[] {
  const complete = text.slice(0, text.lastIndexOf('\n') + 1);
  const out: AgentEventLine[] = [];
  for (const line of complete.split('\n')) {
    if (!line.trim()) continue;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      continue;
    }
    const parsed = EventLineSchema.safeParse(raw);
    if (parsed.success) out.push(parsed.data);
  }
  return out;
}

export interface Deployment {
  node: string;
  site?: string;
  /** seconds since t0 when the node began: its agent's `start` line (one fresh agent run per deployment) */
  startS: number;
  /** seconds since t0 when the deployment ended (its `done` line), null when it did not */
  endS: number | null;
  outcome: 'running' | 'failed' | 'unfinished';
  reason?: string;
  /** seconds per phase, in the order first seen */
  phases: Record<string, number>;
  /** calls made from the start up to the report that followed `done` (every attempt) */
  calls: number;
  /** calls to a data op (e.g. ranged downloads) among them */
  dataCalls: number;
  /** request + response bytes of the non-data calls */
  controlBytes: number;
  /** response bytes of the data calls: what the origin sent this node */
  dataBytesIn: number;
}

export interface DeploymentOptions {
  node: string;
  site?: string;
  /** wall-clock ms of the rollout start (events carry wall-clock ms in `t`) */
  t0Ms: number;
  /** the image the node was to deploy, as the agent names it */
  image: { imageId: string; version: string };
  /** ops whose calls carry image data (their bytesIn is origin egress) */
  dataOps: readonly string[];
  /** ops of the node's status report: the first one after `done` still belongs to the deployment */
  reportOps: readonly string[];
}

/** The node's deployment of `image` from its event lines (one agent run, fresh state). */
export function deploymentFromEvents(lines: readonly AgentEventLine[], o: DeploymentOptions): Deployment {
  const rel = (t: number) => (t - o.t0Ms) / 1000;
  const firstMark = lines.find((l) => l.type === 'mark');
  const firstStart = lines.find((l) => l.type === 'start');
  // a fresh agent opens its deployment at start-up (its auth and assignment are phases of it): its
  // start line is where the node began, so the latency includes everything after the process started
  const startT = firstStart?.t ?? firstMark?.t ?? o.t0Ms;
  const done = lines.find((l) => l.type === 'done' && l.image.imageId === o.image.imageId && l.image.version === o.image.version) as Extract<AgentEventLine, { type: 'done' }> | undefined;
  const phases: Record<string, number> = {};
  const open = new Map<string, number>();
  let calls = 0;
  let dataCalls = 0;
  let controlBytes = 0;
  let dataBytesIn = 0;
  let reported = false;
  for (const l of lines) {
    if (l.t < startT) continue;
    if (done && l.t > done.t) {
      // the deployment's own report ends it; later polls are not part of it
      if (l.type === 'call' && !reported && o.reportOps.includes(l.op)) {
        calls++;
        controlBytes += l.bytesIn + l.bytesOut;
        reported = true;
      }
      continue;
    }
    if (l.type === 'mark') {
      if (l.edge === 'start') open.set(l.phase, l.t);
      else {
        const from = open.get(l.phase);
        open.delete(l.phase);
        if (from !== undefined) phases[l.phase] = (phases[l.phase] ?? 0) + (l.t - from) / 1000;
      }
    } else if (l.type === 'call') {
      calls++;
      if (o.dataOps.includes(l.op)) {
        dataCalls++;
        dataBytesIn += l.bytesIn;
      } else controlBytes += l.bytesIn + l.bytesOut;
    }
  }
  return {
    node: o.node,
    ...(o.site ? { site: o.site } : {}),
    startS: rel(startT),
    endS: done ? rel(done.t) : null,
    outcome: done ? done.outcome : 'unfinished',
    ...(done?.reason ? { reason: done.reason } : !done ? { reason: 'timeout' } : {}),
    phases,
    calls,
    dataCalls,
    controlBytes,
    dataBytesIn,
  };
}

/**
 * The deployment records of one repeat from the nodes' deployments (index = node index), on
 * integer µs since t0, and the run's call counters; `placed[i]`: the plane shows node i RUNNING
 * the image it was pinned to.
 */
export function recordsFromDeployments(deployments: readonly Deployment[], placed: readonly boolean[]): { records: RunRecords; originEgressBytes: number } {
  const us = (s: number) => Math.round(s * 1e6);
  const rec = new RunRecords(deployments.length);
  let egress = 0;
  deployments.forEach((d, i) => {
    rec.startUs[i] = us(d.startS);
    rec.placedOnIntended[i] = placed[i] ? 1 : 0;
    for (const [phase, seconds] of Object.entries(d.phases)) {
      const p = PHASE_INDEX[phase as Phase];
      if (p !== undefined) rec.setPhaseUs(i, p, us(seconds));
    }
    rec.apiCalls += d.calls;
    rec.controlBytes += d.controlBytes;
    rec.dataRequests += d.dataCalls;
    egress += d.dataBytesIn;
    if (d.outcome === 'running' && d.endS !== null) rec.finish(i, us(d.endS), true);
    else rec.finish(i, d.endS === null ? -1 : us(d.endS), false, d.reason ?? 'unknown');
  });
  return { records: rec, originEgressBytes: egress };
}
