// The conformance suite every plane runs (DESIGN.md): plain async checks over a plane's harness,
// each throwing an AssertionError that names what the plane got wrong. No test runner here:
// `registerConformance` takes the runner's describe/it/beforeAll/afterAll.
//   1. error mapping: 401, 403, 404, 500, 503 and a connection reset, injected by a fault proxy in
//      front of the real server, reach the agent as unauthorized, forbidden, notFound,
//      unavailable, unavailable, unavailable (`toControlError`), for every node-plane operation,
//      with one call per operation (no retries behind the machine's back: NO_RETRY);
//   2. exact range semantics of `downloadRange`;
//   3. isolation: a node reads only its own assignment, manifest, key and blob;
//   4. the model's deploySequence equals the calls the plane's real client records for one
//      fault-free deployment (a plane without a model: the harness's fixed sequence).
import type { AgentStatus, Assignment, ControlErrorKind } from '../../agent/machine/index.js';
import type { PlaneDescriptor } from '../descriptor.js';
import type { PlaneRegistry } from '../registry.js';
import { blobOffsets, type NodePlane, type PlaneManifest } from '../node-plane.js';
import { toControlError, type CallRecord } from '../transport/index.js';
import { ensure, sameValue, settle, show } from './assert.js';
import { FaultProxy, type Fault } from './fault-proxy.js';
import type { ConformanceFixture, ConformanceHarness, ProxyFactory } from './harness.js';

export interface ConformanceCheck {
  name: string;
  run(fixture: ConformanceFixture): Promise<void>;
}

export interface ConformanceOptions {
  /** the composition root's registry: check 4 asks it for the plane's model */
  registry: PlaneRegistry;
}

/** The faults of check 1 and the kind each must reach the agent as. */
export const FAULT_KINDS: readonly (readonly [Fault, ControlErrorKind])[] = [
  [401, 'unauthorized'],
  [403, 'forbidden'],
  [404, 'notFound'],
  [500, 'unavailable'],
  [503, 'unavailable'],
  ['reset', 'unavailable'],
];

/** Kinds a refused read of another node's data may have (never data). */
export const REFUSAL_KINDS: readonly ControlErrorKind[] = ['forbidden', 'notFound', 'unauthorized'];

const RUNNING: AgentStatus = 'RUNNING';
const describeFault = (f: Fault) => (f === 'reset' ? 'connection reset' : `HTTP ${f}`);
const same = (a: Assignment | null | undefined, b: Assignment | null | undefined) => (a ?? null) === (b ?? null) || (!!a && !!b && a.imageId === b.imageId && a.version === b.version);
const callList = (records: readonly CallRecord[]) => records.map((r) => `${r.op} ${r.status} (attempt ${r.attempt})`).join(', ') || '(none)';

/** Closes a client's kept-alive connections when it has a `close` (the contract does not require one). */
function release(client: NodePlane): void {
  const close = (client as { close?: unknown }).close;
  if (typeof close === 'function') (close as () => void).call(client);
}

/** login → getAssignment (must be `expected`) → getManifest: what every check starts with. */
async function begin(client: NodePlane, expected: Assignment, who: string): Promise<{ assignment: Assignment; manifest: PlaneManifest }> {
  await client.login();
  const assignment = await client.getAssignment();
  sameValue(assignment, expected, `${who}'s getAssignment does not answer the image the harness pinned to it`);
  const manifest = await client.getManifest(assignment);
  ensure(manifest.bytes.length > 0, `${who}'s getManifest answered an empty manifest`);
  return { assignment, manifest };
}

function checkFixture(f: ConformanceFixture): { offsets: number[]; total: number } {
  ensure(f.chunkSizes.length >= 3, `the harness must publish an image of at least 3 chunks (first, middle, last), got ${f.chunkSizes.length}`);
  ensure(
    f.chunkSizes.every((s) => Number.isInteger(s) && s > 1),
    `chunk sizes must be integers above 1: ${show(f.chunkSizes)}`,
  );
  const offsets = blobOffsets(f.chunkSizes.map((size) => ({ size })));
  const total = f.chunkSizes.reduce((a, b) => a + b, 0);
  ensure(f.blob.length === total, `the harness's blob has ${f.blob.length} bytes, its chunk sizes add up to ${total}`);
  return { offsets, total };
}

// ---- 1. error mapping ----

async function errorMapping(plane: PlaneDescriptor, f: ConformanceFixture, fault: Fault, kind: ControlErrorKind): Promise<void> {
  const via = f.nodeAVia;
  ensure(via, `plane ${plane.name}: the harness gives no nodeAVia (a node client through fault proxies), so its error mapping cannot be checked`);
  const proxies: FaultProxy[] = [];
  const proxy: ProxyFactory = async (target, o) => {
    const p = new FaultProxy({ target, ...o });
    proxies.push(p);
    await p.start();
    return p;
  };
  let client: NodePlane | null = null;
  try {
    client = await via.call(f, proxy);
    const c = client;
    ensure(proxies.length > 0, `plane ${plane.name}: nodeAVia started no proxy`);
    // fault-free through the proxies first: the refs every operation below needs
    const { assignment, manifest } = await begin(c, f.imageA, 'node A (through the proxies)');
    const keyRef = manifest.keyRef;
    await c.getKey(keyRef);
    const firstChunk = f.chunkSizes[0]!;
    sameValue(await c.downloadRange(manifest.blobRef, 0, firstChunk), f.blob.subarray(0, firstChunk), 'node A (through the proxies) read another first chunk than the blob');
    for (const p of proxies) ensure(p.forwarded > 0, `plane ${plane.name}: the proxy in front of ${p.target} (${p.url}) forwarded nothing: the client does not go through it`);

    const ops: [string, () => Promise<unknown>][] = [
      ['login', () => c.login()],
      ['getAssignment', () => c.getAssignment()],
      ['getManifest', () => c.getManifest(assignment)],
      ['getKey', () => c.getKey(keyRef)],
      ['downloadRange', () => c.downloadRange(manifest.blobRef, 0, firstChunk)],
      ['report', () => c.report({ status: RUNNING, image: assignment })],
    ];
    const status = fault === 'reset' ? 0 : fault;
    // a 401 may earn one re-login (its own call); a reset of a reused keep-alive socket one
    // immediate retry (recorded). Anything else is one call: the machine does the retrying.
    const maxCalls = fault === 401 || fault === 'reset' ? 2 : 1;
    const failures: string[] = [];
    for (const [op, call] of ops) {
      const from = c.recorder.records().length;
      const faultedBefore = proxies.reduce((n, p) => n + p.faulted, 0);
      for (const p of proxies) p.setFault(fault);
      const outcome = await settle(call());
      for (const p of proxies) p.setFault(null);
      const records = c.recorder.records().slice(from);
      const faulted = proxies.reduce((n, p) => n + p.faulted, 0) - faultedBefore;
      if (!('error' in outcome)) {
        failures.push(`${op} resolved (${show(outcome.value)}) under ${describeFault(fault)}; expected a ${kind} error`);
        continue;
      }
      const got = toControlError(outcome.error);
      if (got.kind !== kind) failures.push(`${op}: kind ${got.kind}, expected ${kind} (${got.message})`);
      if (faulted === 0) failures.push(`${op}: no request reached the proxies (the error came from elsewhere: ${got.message})`);
      if (records.length === 0) failures.push(`${op}: no call recorded`);
      if (records.some((r) => r.status !== status)) failures.push(`${op}: recorded ${callList(records)}, every call should have status ${status}`);
      if (records.length > maxCalls) failures.push(`${op}: ${records.length} calls recorded (${callList(records)}), at most ${maxCalls}: the node client retries behind the agent machine's back`);
    }
    ensure(failures.length === 0, `plane ${plane.name}, ${describeFault(fault)} → ${kind}:\n  ${failures.join('\n  ')}`);
    // the same client recovers once the fault is gone
    await c.login();
    sameValue(await c.getAssignment(), f.imageA, `plane ${plane.name}: after the ${describeFault(fault)} faults, node A's getAssignment`);
  } finally {
    if (client) release(client);
    await Promise.all(proxies.map((p) => p.close()));
  }
}

// ---- 2. range semantics ----

async function rangeSemantics(plane: PlaneDescriptor, f: ConformanceFixture): Promise<void> {
  const { offsets, total } = checkFixture(f);
  const n = f.chunkSizes.length;
  const size = (i: number) => f.chunkSizes[i]!;
  const at = (i: number) => offsets[i]!;
  const mid = Math.floor(n / 2);
  const client = await f.nodeA();
  try {
    const { manifest } = await begin(client, f.imageA, 'node A');
    const dataOps = new Set(plane.nodeClient?.dataOps ?? []);
    const cases: [string, number, number][] = [
      ['the first chunk', 0, size(0)],
      [`a middle chunk (${mid})`, at(mid), size(mid)],
      ['the last chunk', at(n - 1), size(n - 1)],
      ['1 byte inside a chunk', at(mid) + Math.floor(size(mid) / 2), 1],
      ['the first byte', 0, 1],
      ['the last byte', total - 1, 1],
      ['a range ending at the last byte, over the last chunk boundary', at(n - 2) + 1, total - at(n - 2) - 1],
      ['a range over chunk boundaries (end of chunk 0 to start of the last chunk)', at(1) - 1, at(n - 1) - at(1) + 2],
      ['the whole blob', 0, total],
    ];
    const failures: string[] = [];
    for (const [what, offset, length] of cases) {
      const from = client.recorder.records().length;
      const outcome = await settle(client.downloadRange(manifest.blobRef, offset, length));
      if ('error' in outcome) {
        failures.push(`${what} [${offset}, +${length}): failed: ${toControlError(outcome.error).message}`);
        continue;
      }
      const got = outcome.value;
      const want = f.blob.subarray(offset, offset + length);
      if (!Buffer.isBuffer(got) || got.length !== length) failures.push(`${what} [${offset}, +${length}): ${show(got)}, expected exactly ${length} bytes`);
      else if (!got.equals(want)) failures.push(`${what} [${offset}, +${length}): other bytes than the blob's (${show(got)} vs ${show(want)})`);
      const records = client.recorder.records().slice(from);
      const data = records.filter((r) => dataOps.has(r.op));
      if (data.length !== 1 || data[0]!.bytesIn !== length) {
        failures.push(`${what}: recorded ${callList(records)} with bytesIn ${data.map((r) => r.bytesIn).join(', ') || '-'}; expected one data call (${[...dataOps].join(', ')}) of ${length} bytes`);
      }
    }
    const beyond: [string, number, number][] = [
      ['a range straddling the end', total - 1, 2],
      ['a range starting at the end', total, 1],
      ['a range far past the end', total + 4096, 16],
    ];
    for (const [what, offset, length] of beyond) {
      const outcome = await settle(client.downloadRange(manifest.blobRef, offset, length));
      if (!('error' in outcome)) failures.push(`${what} [${offset}, +${length}) of a ${total}-byte blob answered ${show(outcome.value)}; expected an error, not a short body`);
    }
    ensure(failures.length === 0, `plane ${plane.name}, downloadRange:\n  ${failures.join('\n  ')}`);
  } finally {
    release(client);
  }
}

// ---- 3. isolation ----

async function isolation(plane: PlaneDescriptor, f: ConformanceFixture): Promise<void> {
  checkFixture(f);
  const a = await f.nodeA();
  const b = await f.nodeB();
  try {
    const { manifest } = await begin(a, f.imageA, 'node A');
    const key = await a.getKey(manifest.keyRef);
    ensure(key.length === 32, `node A's getKey answered ${key.length} bytes, not a 32-byte data key`);
    await b.login();
    const bAssignment = await b.getAssignment();
    ensure(!same(bAssignment, f.imageA), `plane ${plane.name}: node B's getAssignment answered node A's image ${show(f.imageA)}`);
    sameValue(bAssignment, f.imageB, `plane ${plane.name}: node B's getAssignment does not answer the image the harness gave it`);
    const failures: string[] = [];
    const reads: [string, () => Promise<unknown>][] = [
      [`node A's manifest (${show(f.imageA)})`, () => b.getManifest(f.imageA)],
      [`node A's key (${manifest.keyRef})`, () => b.getKey(manifest.keyRef)],
      [`node A's blob (${manifest.blobRef}, first chunk)`, () => b.downloadRange(manifest.blobRef, 0, f.chunkSizes[0]!)],
      [`node A's blob (${manifest.blobRef}, 1 byte)`, () => b.downloadRange(manifest.blobRef, 0, 1)],
    ];
    for (const [what, read] of reads) {
      const outcome = await settle(read());
      if (!('error' in outcome)) {
        failures.push(`node B read ${what}: ${show(outcome.value)}`);
        continue;
      }
      const got = toControlError(outcome.error);
      if (!REFUSAL_KINDS.includes(got.kind)) failures.push(`node B reading ${what}: kind ${got.kind} (${got.message}), expected one of ${REFUSAL_KINDS.join(', ')}`);
    }
    // the refusals are authorisation, not a broken client: B reads its own image
    if (f.imageB) {
      const own = await settle(b.getManifest(f.imageB));
      if ('error' in own) failures.push(`node B cannot read its own manifest ${show(f.imageB)}: ${toControlError(own.error).message}`);
      else {
        if (own.value.blobRef === manifest.blobRef) failures.push(`node B's image has node A's blob ref ${manifest.blobRef}`);
        const ownKey = await settle(b.getKey(own.value.keyRef));
        if ('error' in ownKey) failures.push(`node B cannot read its own key: ${toControlError(ownKey.error).message}`);
        else if (Buffer.isBuffer(ownKey.value) && ownKey.value.equals(key) && own.value.keyRef === manifest.keyRef) failures.push("node B's key ref is node A's");
      }
    }
    ensure(failures.length === 0, `plane ${plane.name}, isolation:\n  ${failures.join('\n  ')}`);
  } finally {
    release(a);
    release(b);
  }
}

// ---- 4. model sequence = recorded calls ----

function expectedSequence(h: ConformanceHarness, o: ConformanceOptions, chunks: number): { ops: string[]; source: string } {
  const plane = h.plane;
  if (plane.model) {
    ensure(!h.expectedDeploySequence, `plane ${plane.name} has a model: its harness must not give expectedDeploySequence (the model's deploySequence is the reference)`);
    const model = o.registry.model(plane.name, 'agent', { placement: 'pinned', flags: o.registry.defaultFlags(plane.name) });
    const nc = plane.nodeClient;
    ensure(nc, `plane ${plane.name} has no node client`);
    ensure(nc.dataOps.includes(model.dataPath.op.op), `plane ${plane.name}: the model's chunk op ${model.dataPath.op.op} is not among the node client's dataOps ${show(nc.dataOps)}`);
    sameValue(
      model.agentOps('report').map((x) => x.op),
      [...nc.reportOps],
      `plane ${plane.name}: the model's report ops and the node client's reportOps differ`,
    );
    return { ops: model.deploySequence({ chunks }), source: `the ${plane.name} model's deploySequence` };
  }
  ensure(h.expectedDeploySequence, `plane ${plane.name} has no model: its harness must give expectedDeploySequence`);
  return { ops: h.expectedDeploySequence(chunks), source: `the harness's fixed sequence for ${plane.name}` };
}

async function deploySequence(h: ConformanceHarness, o: ConformanceOptions, f: ConformanceFixture): Promise<void> {
  const plane = h.plane;
  const { offsets } = checkFixture(f);
  const chunks = f.chunkSizes.length;
  const expected = expectedSequence(h, o, chunks);
  const client = await f.nodeA();
  try {
    ensure(client.recorder.records().length === 0, `plane ${plane.name}: a fresh node client has recorded calls already: ${callList(client.recorder.records())}`);
    // one fault-free deployment, in the agent machine's order (adapters/model.ts agentDeploySequence)
    const { assignment, manifest } = await begin(client, f.imageA, 'node A');
    const key = await client.getKey(manifest.keyRef);
    ensure(key.length === 32, `node A's getKey answered ${key.length} bytes, not a 32-byte data key`);
    for (let i = 0; i < chunks; i++) {
      const chunk = await client.downloadRange(manifest.blobRef, offsets[i]!, f.chunkSizes[i]!);
      ensure(chunk.equals(f.blob.subarray(offsets[i]!, offsets[i]! + f.chunkSizes[i]!)), `chunk ${i} read by node A is not the blob's`);
    }
    await client.report({ status: RUNNING, image: assignment });
    const records = client.recorder.records();
    const bad = records.filter((r) => r.attempt !== 1 || r.status < 200 || r.status > 299);
    ensure(bad.length === 0, `plane ${plane.name}: a fault-free deployment recorded retries or failed calls: ${callList(bad)}`);
    sameValue(
      records.map((r) => r.op),
      expected.ops,
      `plane ${plane.name}: the ops node A's client recorded for one deployment of ${chunks} chunks differ from ${expected.source}`,
    );
  } finally {
    release(client);
  }
}

/** The checks, named, for one plane. */
export function conformanceChecks(h: ConformanceHarness, o: ConformanceOptions): ConformanceCheck[] {
  const plane = h.plane;
  const mapping = FAULT_KINDS.map(
    ([fault, kind]): ConformanceCheck => ({
      name: `error mapping: ${describeFault(fault)} → ${kind}, for every node-plane operation, one call each`,
      run: (f) => errorMapping(plane, f, fault, kind),
    }),
  );
  return [
    ...mapping,
    {
      name: 'exact range semantics: first, middle and last chunk, 1 byte, the last byte, across chunk boundaries; past the end is an error',
      run: (f) => rangeSemantics(plane, f),
    },
    {
      name: "isolation: node B is refused node A's manifest, key and blob, and its assignment is not A's",
      run: (f) => isolation(plane, f),
    },
    {
      name: plane.model
        ? "one fault-free deployment: the model's deploySequence equals the calls the real client records"
        : 'one fault-free deployment: the recorded calls equal the fixed sequence (no simulation model to compare with)',
      run: (f) => deploySequence(h, o, f),
    },
  ];
}

/** The parts of a test runner `registerConformance` uses (vitest's or another's). */
export interface TestApi {
  describe(name: string, fn: () => void): void;
  it(name: string, fn: () => Promise<void>, timeoutMs?: number): void;
  beforeAll(fn: () => Promise<void>, timeoutMs?: number): void;
  afterAll(fn: () => Promise<void>, timeoutMs?: number): void;
}

/** Registers `conformance: <plane>` with one test per check; set-up once, torn down after. */
export function registerConformance(t: TestApi, h: ConformanceHarness, o: ConformanceOptions & { setUpTimeoutMs?: number; checkTimeoutMs?: number }): void {
  t.describe(`conformance: ${h.plane.name}`, () => {
    let fixture: ConformanceFixture | null = null;
    t.beforeAll(async () => {
      fixture = await h.setUp();
    }, o.setUpTimeoutMs);
    t.afterAll(() => h.tearDown(), o.setUpTimeoutMs);
    for (const check of conformanceChecks(h, o)) {
      t.it(
        check.name,
        async () => {
          ensure(fixture, `plane ${h.plane.name}: the harness's setUp did not finish`);
          await check.run(fixture);
        },
        o.checkTimeoutMs,
      );
    }
  });
}
