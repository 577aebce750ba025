// The plane descriptor: everything edgeplane knows about one control plane, exported by the
// plane's folder (control-*/index.ts) and listed once, in the composition root (planes/index.ts).
// The simulator, the environments, the CLI and the reports reach a plane only through this.
import type { z } from 'zod';
import type { Assignment } from '../agent/machine/index.js';
import type { Logger } from '../common/index.js';
import type { Calibration, ComplexityProfile, PlaneMode, PlaneModel, PlaneOptions } from './model.js';
import type { NodePlane } from './node-plane.js';

/** A plane-specific scenario option (e.g. OpenNebula's `replicaCache`): a flag of the plane entry. */
export interface PlaneOptionSpec {
  description: string;
  /** the modes it applies to; set in another mode it is an error */
  modes: readonly PlaneMode[];
}

/** A command-line flag a plane adds to a generic command (`up`), without naming the CLI library. */
export interface CliFlag {
  /** commander syntax, e.g. `--keystone-port <port>` or `--with-ceph` */
  flags: string;
  description: string;
  /** parses the text of a value flag; throws an Error whose message says what is expected */
  parse?: (value: string) => unknown;
}

/** A `CliFlag.parse` for a whole number in [min, max]; `expected` is the message a bad value gets. */
export function wholeNumberFlag(min: number, max: number, expected: string): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(expected);
    return n;
  };
}

export interface ServerUpOptions {
  stateDir: string;
  /** the plane's own `up` flags, by commander's camel-cased name */
  flags: Record<string, unknown>;
  logger: Logger;
  onProgress: (message: string) => void;
}

/** `edgeplane up|down|status <plane>`: a real stack launcher or an emulator. */
export interface PlaneServer {
  defaultStateDir: string;
  /** one line for `up --help` */
  summary: string;
  upFlags: readonly CliFlag[];
  /** starts what is not running (idempotent); returns the lines to print */
  up(o: ServerUpOptions): Promise<string[]>;
  /** stops exactly what `up` started */
  down(stateDir: string): Promise<{ name: string; pid: number | null; result: string }[]>;
  status(stateDir: string): Promise<{ healthy: boolean; text: string; json: unknown }>;
}

export interface PublishRequest {
  /** a raw image file (sealed first) or a sealed directory */
  source: string;
  imageId: string;
  version: string;
  keysDir: string;
  sealedDir?: string;
  chunking?: { algorithm: 'fixed'; size: number };
  logger?: Logger;
}

export interface PublishedFleetImage {
  /** what `assign` takes: the plane's own ref of the published image, and its version */
  pin: Assignment;
  chunks: number;
  blobBytes: number;
  sealed: boolean;
  keysGenerated: boolean;
  keysDir: string;
  /** plane-specific facts to print (label → value) */
  details: Record<string, string>;
  /** the plane's own record of the publication (what `fleet publish --json` prints) */
  json: unknown;
}

export interface EnrolledFleetNode {
  nodeId: string;
  /** the `plane` section of this node's agent.yaml (holds its credential) */
  agentPlane: Record<string, unknown>;
  configFile: string | null;
  details: Record<string, string>;
}

export interface FleetNodeStatus {
  nodeId: string;
  enabled: boolean;
  pin: Assignment | null;
  /** the node's last report; `seq` orders reports (wall-clock ms of the report) */
  report: { status: string; seq: number; image: Assignment | null; failure?: string } | null;
}

/** One fleet on a running plane (`edgeplane fleet ...`, `run --env real`). */
export interface FleetOperator {
  publish(o: PublishRequest): Promise<PublishedFleetImage>;
  enroll(nodeIds: readonly string[], o?: { outDir?: string; trust?: string[] }): Promise<EnrolledFleetNode[]>;
  assign(pin: Assignment, nodeIds: readonly string[]): Promise<{ nodeId: string; pin: string }[]>;
  revoke(nodeIds: readonly string[]): Promise<string[]>;
  status(nodeIds?: readonly string[]): Promise<FleetNodeStatus[]>;
  /** withdraws each node's pin, the node staying enrolled (an emulated fleet comes up idle before each repeat) */
  unassign?(nodeIds: readonly string[]): Promise<string[]>;
  /**
   * The node's plane section (as enroll gave it) with every service the node talks to reached at
   * `reach(url)` instead of the plane's own URL for it (an emulated fleet reaches the plane's
   * loopback services through its routers); `reach` is given each of those URLs.
   */
  reroute?(section: Record<string, unknown>, reach: (url: string) => string): Promise<Record<string, unknown>>;
}

export interface PlaneOperator {
  /** a node id the plane accepts for a scenario node id such as `site-000/node-0000` */
  nodeName(scenarioNodeId: string): string;
  /** `<image ref>@<version>` as `fleet assign` takes it (InputError when malformed) */
  parsePin(text: string): Assignment;
  /** `cloud`/`openrc`: an existing cloud (clouds.yaml / openrc) instead of the local stack in `stateDir` */
  open(stateDir: string, target?: CloudSelection): Promise<FleetOperator>;
  /** native mode for real (`run --env real` with mode native): the plane itself deploys each node, no edgeplane agent */
  native?(o: NativeRealRequest): Promise<NativeRealRun>;
  /** how native() runs in an emulated fleet (`run --env emulate` in native mode): `ssh`, it takes `sshFleet` (the plane's own transfers reach hosts over ssh); `node-processes`, it takes `nodeProcesses` (its services on the origin host, its node side a process in each node's network) */
  nativeEmulated?: 'ssh' | 'node-processes';
}

export interface NativeRealRequest {
  stateDir: string;
  /** the scenario's nodes, with the plane's names for them */
  nodes: readonly { id: string; planeId: string; site: string }[];
  placement: 'pinned' | 'scheduler';
  imageBytes: number;
  workDir: string;
  logger: Logger;
  say: (message: string) => void;
  /** the nodes as hosts over ssh (`run --env emulate`): the plane's own copies move the image to them; without, its drivers move no bytes */
  sshFleet?: NativeSshFleet;
  /** the emulated fleet as the plane's own node-side processes run on it (`run --env emulate`, nativeEmulated 'node-processes') */
  nodeProcesses?: NativeNodeProcesses;
}

/**
 * An emulated fleet for a plane whose node side is its own agent (CloudStack's KVM agent): the
 * plane's services listen on `originHost`, an address of this machine the nodes reach only across
 * the origin uplink, WAN, LAN and their access link; each node's agent runs in that node's network.
 */
export interface NativeNodeProcesses {
  originHost: string;
  /** starts `args` (a Node script and its arguments) in the network of node `nodeId` (the scenario's id) */
  start(nodeId: string, args: string[], what: string): NodeSideProcess;
  /**
   * A file holding the node's VM boot time for its hypervisor (whole ms, the scenario's
   * distribution): rewritten before each repeat with that repeat's draw, read at each VM start
   */
  bootDelayFile?(nodeId: string): string;
}

export interface NodeSideProcess {
  readonly what: string;
  readonly running: boolean;
  readonly exited: Promise<number | null>;
  /** the last of its standard error */
  readonly stderr: string;
  /** resolves once a line of its standard output matches (EnvironmentError when it exits first or times out) */
  waitFor(re: RegExp, timeoutMs?: number): Promise<unknown>;
  /** SIGTERM, SIGKILL after `graceMs` */
  stop(graceMs?: number): Promise<number | null>;
}

/** An emulated fleet's nodes as hosts a plane's own transfers reach over ssh. */
export interface NativeSshFleet {
  /** ssh's ProxyCommand for the machine the plane's copies start from: it runs in the fleet's origin, so the bytes cross the fleet's links */
  originProxyCommand: string;
  /** every node, by the plane's id for it, and its sshd as the origin reaches it */
  hosts: ReadonlyMap<string, { address: string; port: number }>;
  user: string;
  identityFile: string;
  /** known_hosts that pins the sshds' host key */
  knownHostsFile: string;
}

/** One node's native deployment, in the shape real agents' deployments have (seconds since the repeat's t0). */
export interface NativeRealDeployment {
  node: string;
  startS: number;
  endS: number | null;
  outcome: 'running' | 'failed' | 'unfinished';
  reason?: string;
  phases: Record<string, number>;
  calls: number;
  dataCalls: number;
  controlBytes: number;
  /** image bytes the plane moved to this node (0 with drivers that move none) */
  dataBytesIn: number;
  /** it runs on the host it was meant for */
  intended: boolean;
}

export interface NativeRealRun {
  repeat(r: number): Promise<NativeRealDeployment[]>;
  /** what the results' meta line must say about this run (e.g. that no bytes moved) */
  assumptions: { name: string; value: string | number; unit?: string; source: string }[];
  close(): Promise<void>;
}

/** The node side: the plane's section of agent.yaml and the client an agent builds from it. */
export interface NodeClientFactory<S extends { kind: string } = { kind: string }> {
  /** the `plane.kind` of agent.yaml that selects this client */
  kind: S['kind'];
  /** the `plane:` section of agent.yaml, with `kind` equal to the plane's agent kind */
  configSchema: z.ZodType<S>;
  /** the same section with its relative paths made absolute */
  resolvePaths(section: S, abs: (path: string) => string): S;
  create(section: S, ctx: { node: string; requestTimeoutMs: number; logger: Logger }): Promise<NodePlane>;
  /** ops whose calls carry image bytes, and the op of the node's status report */
  dataOps: readonly string[];
  reportOps: readonly string[];
  /** the op of the node's read of its own assignment (an idle node polls it) */
  assignmentOps?: readonly string[];
}

/** An existing cloud to work on instead of the local stack: a clouds.yaml cloud (`--cloud`, OS_CLOUD) or an openrc file. */
export interface CloudSelection {
  cloud?: string;
  openrc?: string;
}

export interface CalibrateRequest extends CloudSelection {
  stateDir: string;
  samples: number;
  /** opens the log once the plane has checked there is something to calibrate */
  openLog: () => Logger;
  onProgress: (message: string) => void;
}

export interface PlaneDescriptor {
  /** as scenarios, results and the CLI spell it */
  name: string;
  /** chart colour (colour-blind-safe palette) */
  colour: string;
  /** the modes it runs in; the first is the default */
  modes: readonly PlaneMode[];
  /** why a mode is missing, for the error a scenario gets when it asks for it */
  missingModes?: Partial<Record<PlaneMode, string>>;
  options: Readonly<Record<string, PlaneOptionSpec>>;
  /** service names `faults.controlOutages` may name */
  services: readonly string[];
  /** the simulation model (absent: the plane is not simulated, e.g. the test plane) */
  model?: (mode: PlaneMode, opts: PlaneOptions) => PlaneModel;
  /** every (mode, options) combination the model accepts */
  variants?: () => { mode: PlaneMode; options: PlaneOptions }[];
  profile?: () => ComplexityProfile;
  /** agent kind in agent.yaml (`openstack`, `test-plane`) */
  nodeClient?: NodeClientFactory;
  operator?: PlaneOperator;
  server?: PlaneServer;
  calibrate?: (o: CalibrateRequest) => Promise<Calibration & { profile?: ComplexityProfile }>;
}
