// Physics and causality, checked on every simulated run: what arrived where and when, what the
// origin sent, when VMs started. A violation is a bug in the simulator (or a plane model), never
// a result: tests assert there are none and the runner can refuse a run that has one.

export interface FidelityReport {
  /** names of the invariants this run was held to */
  checked: string[];
  /** one line per violated invariant (first offending node named), empty when all hold */
  violations: string[];
}

export interface CheckInputs {
  /** bytes each node must hold before its VM may start */
  bytesPerNode: number;
  /** `peer`: nodes serve each other; `site`: one origin copy per site; `none`: client-server */
  sharing: 'none' | 'site' | 'peer';
  /** peer swarms: one per site or one fleet-wide */
  swarmScope: 'site' | 'fleet';
  /** native planes that boot from the site's copy (a replica host or shared storage pool) */
  bootsFromSiteCopy: boolean;
  /** per node: did its deployment end RUNNING */
  running: (node: number) => boolean;
  siteOf: (node: number) => number;
  nodeName: (node: number) => string;
  /** the node's access downlink, bytes/s */
  downBytesPerS: (node: number) => number;
  originEgressBytes: number;
  /** previously installed image: a node may need fewer bytes (delta) — bytesPerNode is then the delta */
}

/** Integer-µs completions round up; a few µs of slack per check absorbs nothing physical. */
const SLACK_US = 2;

export class FidelityChecks {
  private readonly firstByteUs: Float64Array;
  private readonly lastByteUs: Float64Array;
  private readonly bytesIn: Float64Array;
  private readonly vmStartUs: Float64Array;
  private readonly siteFullUs: Float64Array;
  private readonly originToSite: Float64Array;
  private originToNodes = 0;

  constructor(
    readonly nodes: number,
    readonly sites: number,
  ) {
    this.firstByteUs = new Float64Array(nodes).fill(Infinity);
    this.lastByteUs = new Float64Array(nodes).fill(-1);
    this.bytesIn = new Float64Array(nodes);
    this.vmStartUs = new Float64Array(nodes).fill(-1);
    this.siteFullUs = new Float64Array(sites).fill(-1);
    this.originToSite = new Float64Array(sites);
  }

  /** `bytes` reached the node over its access link, flowing from `fromUs` to `toUs`. */
  arrived(node: number, bytes: number, fromUs: number, toUs: number, fromOrigin: boolean): void {
    if (bytes <= 0) return;
    if (fromUs < this.firstByteUs[node]) this.firstByteUs[node] = fromUs;
    if (toUs > this.lastByteUs[node]) this.lastByteUs[node] = toUs;
    this.bytesIn[node] += bytes;
    if (fromOrigin) this.originToNodes += bytes;
  }

  /** the origin sent `bytes` into the site (a cache, replica host or pool) */
  intoSite(site: number, bytes: number): void {
    this.originToSite[site] += bytes;
  }

  siteFilled(site: number, atUs: number): void {
    if (this.siteFullUs[site] < 0) this.siteFullUs[site] = atUs;
  }

  vmStart(node: number, atUs: number): void {
    this.vmStartUs[node] = atUs;
  }

  evaluate(c: CheckInputs): FidelityReport {
    const checked: string[] = [];
    const violations: string[] = [];
    const S = c.bytesPerNode;
    const first = (name: string, test: (node: number) => string | null): void => {
      checked.push(name);
      for (let i = 0; i < this.nodes; i++) {
        if (!c.running(i)) continue;
        const why = test(i);
        if (why) {
          violations.push(`${name}: ${c.nodeName(i)} ${why}`);
          return;
        }
      }
    };
    first('vm-starts-after-its-bytes', (i) => {
      if (this.vmStartUs[i] < 0) return null; // restored from a previous start: nothing new to boot
      if (this.bytesIn[i] + 0.5 < S) return `started its VM holding ${this.bytesIn[i]} of ${S} bytes`;
      if (S > 0 && this.lastByteUs[i] > this.vmStartUs[i]) return `started its VM at ${this.vmStartUs[i]} us, before its last byte at ${this.lastByteUs[i]} us`;
      return null;
    });
    first('transfer-no-faster-than-access-link', (i) => {
      const b = this.bytesIn[i];
      if (b <= 0) return null;
      const minUs = (b / c.downBytesPerS(i)) * 1e6;
      const took = this.lastByteUs[i] - this.firstByteUs[i];
      return took + SLACK_US < minUs ? `received ${b} bytes in ${took} us, faster than its access link allows (${Math.ceil(minUs)} us)` : null;
    });
    if (c.bootsFromSiteCopy) {
      first('boots-after-site-copy', (i) => {
        const full = this.siteFullUs[c.siteOf(i)];
        if (this.vmStartUs[i] < 0) return null;
        if (full < 0) return 'started its VM but its site never held the whole copy';
        return this.vmStartUs[i] < full ? `started its VM at ${this.vmStartUs[i]} us, before the site copy was complete at ${full} us` : null;
      });
    }
    // the least the origin must have sent for the nodes that run
    const runningSites = new Set<number>();
    let running = 0;
    for (let i = 0; i < this.nodes; i++) {
      if (!c.running(i)) continue;
      running++;
      runningSites.add(c.siteOf(i));
    }
    checked.push('origin-sends-at-least-the-minimum');
    const minimum = c.sharing === 'none' ? running * S : c.sharing === 'site' || c.swarmScope === 'site' ? runningSites.size * S : running > 0 ? S : 0;
    if (c.originEgressBytes + 0.5 < minimum) violations.push(`origin-sends-at-least-the-minimum: the origin sent ${c.originEgressBytes} bytes, less than the ${minimum} the ${c.sharing} strategy needs`);
    if (c.sharing === 'site') {
      checked.push('one-origin-copy-per-site');
      if (this.originToNodes > 0) violations.push(`one-origin-copy-per-site: ${this.originToNodes} bytes went from the origin straight to nodes`);
      for (let s = 0; s < this.sites; s++) {
        if (this.originToSite[s] > S + 0.5) {
          violations.push(`one-origin-copy-per-site: site #${s} got ${this.originToSite[s]} bytes from the origin for a ${S}-byte copy`);
          break;
        }
      }
    }
    return { checked, violations };
  }
}
