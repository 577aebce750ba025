// Agent hosts in the emulated topology (pure): which nodes share a process, the host namespace's
// addresses and routes (each hosted node reaches its own router alias through its own veth), the
// sysctls that keep ARP per interface; and the incremental reader of events.ndjson.
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../../common/index.js';
import { EventsTail, creationCommands, namespaceCommands, planTopology, sysctlWrites } from '../../../environments/emulate/index.js';
import { scenario } from './helpers.js';

const s = scenario(`
name: hosted
fleet:
  sites: 2
  nodesPerSite: 5
  node:
    access: {down: 50Mbit, up: 10Mbit, rtt: 20ms}
  site:
    wan: {down: 200Mbit, up: 100Mbit, rtt: 10ms}
    lan: 1Gbit
origin: {uplink: 1Gbit, rtt: 2ms}
image: {size: 4MiB, chunk: 1MiB}
planes: [openstack]
`);

describe('agent hosts', () => {
  it('a process per node by default: no host, every node in its own namespace at the router LAN address', () => {
    const t = planTopology(s, 10);
    expect(t.hosts).toEqual([]);
    expect(t.nodes.every((n) => !n.hosted && n.ns === `epem-n${n.index}` && n.routerIp === t.sites[n.site]!.lanIp)).toBe(true);
    expect(t.namespaces).toHaveLength(2 + 2 + 10);
  });

  it('groups the hosted nodes of each site in hosts of at most agentsPerProcess; solo nodes keep their own namespace', () => {
    const t = planTopology(s, 10, undefined, { agentsPerProcess: 2, solo: new Set([1]) });
    // site 0: nodes 0,2,3,4 hosted (1 alone) -> [0,2],[3,4]; site 1: 5..9 -> [5,6],[7,8],[9]
    expect(t.hosts.map((h) => h.nodes)).toEqual([[0, 2], [3, 4], [5, 6], [7, 8], [9]]);
    expect(t.hosts.map((h) => h.ns)).toEqual(['epem-h0', 'epem-h0', 'epem-h1', 'epem-h1', 'epem-h1']);
    expect(t.namespaces).toEqual(['epem-o', 'epem-c', 'epem-s0', 'epem-s1', 'epem-h0', 'epem-h1', 'epem-n1']);
    const alone = t.nodes.find((n) => n.index === 1)!;
    expect(alone.hosted).toBe(false);
    expect(alone.routerIp).toBe('10.77.128.1');
    // every hosted node has an alias of its router of its own; node addresses stay distinct
    const hosted = t.nodes.filter((n) => n.hosted);
    expect(new Set(hosted.map((n) => n.routerIp)).size).toBe(hosted.length);
    expect(new Set(t.nodes.map((n) => n.ip)).size).toBe(t.nodes.length);
    expect(hosted.find((n) => n.index === 7)!.routerIp).toBe('10.78.1.4');
    // and its access link is still shaped both ways, the node end in the host namespace
    const n7 = hosted.find((n) => n.index === 7)!;
    expect(t.egresses.filter((e) => e.dev === n7.accessDevs.node)).toEqual([{ ns: 'epem-h1', dev: n7.accessDevs.node, bitsPerS: 10e6, delayUs: 10_000, loss: 0 }]);
    expect(t.egresses.find((e) => e.dev === n7.accessDevs.site)!.bitsPerS).toBe(50e6);
  });

  it('routes each hosted node to its router alias out of its own veth, with its own address as source', () => {
    const t = planTopology(s, 10, undefined, { agentsPerProcess: 5 });
    const cmds = namespaceCommands(t);
    const n = t.nodes[6]!; // site-001/node-0001
    expect(creationCommands(t)).toContain(`link add ${n.accessDevs.site} netns epem-s1 type veth peer name ${n.accessDevs.node} netns epem-h1`);
    expect(cmds.get('epem-h1')).toEqual(
      expect.arrayContaining(['link set lo up', `addr add ${n.ip}/32 dev ${n.accessDevs.node}`, `route add ${n.routerIp}/32 via 10.77.129.1 dev ${n.accessDevs.node} src ${n.ip} onlink`]),
    );
    expect(cmds.get('epem-s1')).toContain(`addr add ${n.routerIp}/32 dev lo`);
    // no default route in a host namespace: a hosted node reaches nothing but its own alias
    expect(cmds.get('epem-h1')!.some((l) => l.startsWith('route add default'))).toBe(false);
    const sysctls = sysctlWrites(t);
    expect(sysctls.get('epem-h1')).toEqual([
      { key: 'ipv4/conf/all/arp_ignore', value: '1' },
      { key: 'ipv4/conf/all/arp_announce', value: '2' },
    ]);
    expect(sysctls.get('epem-s0')).toEqual([{ key: 'ipv4/ip_forward', value: '1' }]);
    expect(sysctls.get('epem-c')).toEqual([{ key: 'ipv4/ip_forward', value: '1' }]);
  });

  it('refuses a fractional or zero agentsPerProcess', () => {
    expect(() => planTopology(s, 4, undefined, { agentsPerProcess: 0 })).toThrow(InputError);
    expect(() => planTopology(s, 4, undefined, { agentsPerProcess: 1.5 })).toThrow(InputError);
  });
});

describe('EventsTail', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ep-tail-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('returns only the complete lines appended since the last poll, across a line cut mid-way (even inside a multi-byte character)', () => {
    const file = join(dir, 'events.ndjson');
    const tail = new EventsTail(file);
    expect(tail.poll()).toEqual([]); // not there yet
    const stop = (t: number, extra = '') => `{"t":${t},"boot":1,"type":"stop"${extra}}\n`;
    writeFileSync(file, stop(1));
    expect(tail.poll().map((l) => l.t)).toEqual([1]);
    const line = Buffer.from(stop(2, ',"note":"é"'));
    const cut = line.indexOf(Buffer.from('é')) + 1; // inside the two bytes of é
    appendFileSync(file, line.subarray(0, cut));
    expect(tail.poll()).toEqual([]);
    appendFileSync(file, Buffer.concat([line.subarray(cut), Buffer.from(stop(3))]));
    expect(tail.poll().map((l) => l.t)).toEqual([2, 3]);
    expect(tail.lines.map((l) => l.t)).toEqual([1, 2, 3]);
    expect(tail.poll()).toEqual([]);
  });
});
