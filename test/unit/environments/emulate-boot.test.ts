import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { expandFleet } from '../../../edge-sim/index.js';
import { bootDelayMs, NodeSideProcesses, type EmulatedNode } from '../../../environments/emulate/index.js';
import { scenario } from './helpers.js';

let dir = '';
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("a native node side's boot times (emulated CloudStack's KVM agents)", () => {
  it("each repeat's draw is written to the node's boot file before the repeat; files start with repeat 0's", () => {
    const s = scenario(
      [
        'name: boot-draws',
        'seed: 4',
        'repeat: 2',
        'fleet:',
        '  sites: 1',
        '  nodesPerSite: 3',
        '  node: {access: {down: 50Mbit, up: 10Mbit, rtt: 20ms}, boot: {median: 2s, p99: 8s}}',
        '  site: {wan: {down: 100Mbit, up: 100Mbit, rtt: 10ms}}',
        'origin: {uplink: 1Gbit, rtt: 2ms}',
        'image: {size: 16MiB, chunk: 4MiB}',
        'planes: [{name: cloudstack, mode: native}]',
        'strategy: origin',
        '',
      ].join('\n'),
    );
    const fleet = expandFleet(s);
    dir = mkdtempSync(join(tmpdir(), 'ep-boot-'));
    const nodes = new Map(fleet.nodes.map((n) => [n.id, { id: n.id, index: n.index } as unknown as EmulatedNode]));
    const draw = (id: string, r: number) => bootDelayMs(s, fleet, fleet.byId.get(id)!.index, r);
    const side = new NodeSideProcesses(nodes, { dir: join(dir, 'boot'), delayMs: draw });
    const read = () => fleet.nodes.map((n) => Number(readFileSync(side.bootDelayFile(n.id), 'utf8').trim()));
    const repeat0 = read();
    expect(repeat0).toEqual(fleet.nodes.map((n) => draw(n.id, 0)));
    side.setRepeat(1);
    const repeat1 = read();
    expect(repeat1).toEqual(fleet.nodes.map((n) => draw(n.id, 1)));
    // a lognormal boot: the repeats draw afresh (not repeat 0's again), each a whole number of ms
    expect(repeat1).not.toEqual(repeat0);
    for (const ms of [...repeat0, ...repeat1]) expect(Number.isInteger(ms) && ms > 0).toBe(true);
  });
});
