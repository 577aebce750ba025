// The emulation's plan (pure): namespaces, addresses, links, shaping commands and the fault timeline.
import { describe, expect, it } from 'vitest';
import { InputError, NotSupportedError } from '../../../common/index.js';
import { expandFleet } from '../../../edge-sim/index.js';
import { creationCommands, namespaceCommands, pathOneWayUs, planFaults, planTopology, rootCommands, shapingCommands, sysctlWrites, viaRouter, wanCut } from '../../../environments/emulate/index.js';
import { emulateScenario } from '../../../environments/index.js';
import { planes } from '../../../planes/index.js';
import { scenario } from './helpers.js';

const base = (extra = '') =>
  scenario(`
name: emu
fleet:
  sites: 3
  nodesPerSite: 4
  node:
    access: {down: 50Mbit, up: 10Mbit, rtt: 20ms}
  site:
    wan: {down: 200Mbit, up: 100Mbit, rtt: 10ms}
    lan: 1Gbit
  nodeOverrides:
    - nodes: [site-001/node-0002]
      access: {down: 5Mbit, rtt: 100ms}
origin: {uplink: 1Gbit, rtt: 2ms}
image: {size: 64MiB, chunk: 4MiB}
planes: [openstack]
${extra}
`);

describe('emulated topology', () => {
  it('has a namespace for the origin, the core, every site and every node, with distinct addresses in 10.77.0.0/16', () => {
    const t = planTopology(base(), 12);
    expect(t.namespaces).toHaveLength(2 + 3 + 12);
    expect(new Set(t.namespaces).size).toBe(t.namespaces.length);
    expect(t.namespaces.every((n) => n.startsWith('epem-'))).toBe(true);
    const ips = [...t.nodes.map((n) => n.ip), ...t.sites.flatMap((s) => [s.lanIp, s.wanIps.core, s.wanIps.site])];
    expect(new Set(ips).size).toBe(ips.length);
    for (const ip of ips) expect(ip).toMatch(/^10\.77\.\d{1,3}\.\d{1,3}$/);
    // every node sits in its site's /24, behind the site router
    for (const n of t.nodes) expect(n.ip.split('.').slice(0, 3).join('.')).toBe(t.sites[n.site]!.lanIp.split('.').slice(0, 3).join('.'));
    // interface names fit Linux's 15 characters
    for (const line of creationCommands(t)) for (const m of line.matchAll(/(?:add|name) (epem-\S+)/g)) expect(m[1]!.length).toBeLessThanOrEqual(15);
  });

  it('shapes both directions of every link at the scenario rates, overrides included', () => {
    const t = planTopology(base(), 12);
    // uplink 2, WAN 2 per site + LAN 1 per site, access 2 per node
    expect(t.egresses).toHaveLength(2 + 3 * 3 + 12 * 2);
    const rate = (dev: string) => t.egresses.find((e) => e.dev === dev)!.bitsPerS;
    expect(rate('epem-uo')).toBe(1e9);
    expect(rate('epem-w1c')).toBe(200e6);
    expect(rate('epem-w1s')).toBe(100e6);
    expect(rate('epem-br2')).toBe(1e9);
    const slow = t.nodes.find((n) => n.id === 'site-001/node-0002')!;
    expect(rate(slow.accessDevs.site)).toBe(5e6);
    expect(rate(slow.accessDevs.node)).toBe(10e6);
    // the relay's one-way delay is the path's: origin + WAN + access, halved
    expect(pathOneWayUs(t, slow)).toBe(1_000 + 5_000 + 50_000);
    expect(pathOneWayUs(t, t.nodes[0]!)).toBe(1_000 + 5_000 + 10_000);
  });

  it('writes tbf with a burst of at least 10 ms at the rate, and netem only when the kernel has it', () => {
    const e = { ns: 'epem-c', dev: 'epem-w0c', bitsPerS: 800e6, delayUs: 5_000, loss: 0.01 };
    const without = shapingCommands(e, false);
    expect(without).toHaveLength(1);
    expect(without[0]).toMatch(/^qdisc replace dev epem-w0c root handle 1: tbf rate 800000000bit burst (\d+) limit (\d+)$/);
    expect(Number(/burst (\d+)/.exec(without[0]!)![1])).toBeGreaterThanOrEqual(1_000_000);
    const withNetem = shapingCommands(e, true);
    expect(withNetem[1]).toBe('qdisc add dev epem-w0c parent 1:1 handle 10: netem delay 5000us loss 1.0000% limit 100000');
  });

  it('routes: nodes via their site router, sites via the core, the origin via the core; a cut WAN link drops silently (blackhole routes) and comes back with its routes', () => {
    const t = planTopology(base(), 5);
    const cmds = namespaceCommands(t);
    expect(cmds.get('epem-o')).toContain('route add default via 10.77.0.2');
    expect(cmds.get('epem-c')).toContain(`route add 10.77.129.0/24 via ${t.sites[1]!.wanIps.site}`);
    expect(cmds.get(t.nodes[4]!.ns)).toContain(`route add default via ${t.sites[1]!.lanIp}`);
    expect(wanCut(t, 1, true).flatMap((s) => s.lines)).toEqual(['route replace blackhole 10.77.129.0/24', 'link set epem-w1c down', 'route replace blackhole default', 'link set epem-w1s down']);
    const up = wanCut(t, 1, false);
    expect(up.map((s) => s.lines[0])).toEqual(['link set epem-w1c up', 'link set epem-w1s up', `route replace 10.77.129.0/24 via ${t.sites[1]!.wanIps.site}`, `route replace default via ${t.sites[1]!.wanIps.core}`]);
  });

  it('links the root namespace in as the origin host only when asked: unshaped, routed through the origin so its traffic crosses the uplink', () => {
    expect(creationCommands(planTopology(base(), 5)).some((l) => l.includes('epem-m '))).toBe(false);
    const t = planTopology(base(), 5, undefined, { agentsPerProcess: 1, originHost: true });
    expect(creationCommands(t)).toContain('link add epem-m type veth peer name epem-mo netns epem-o');
    expect(rootCommands(t)).toEqual(['addr add 10.77.1.1/30 dev epem-m', 'link set epem-m up', 'route add 10.77.0.0/16 via 10.77.1.2 dev epem-m']);
    expect(namespaceCommands(t).get('epem-c')).toContain('route add 10.77.1.0/30 via 10.77.0.1');
    expect(sysctlWrites(t).get('epem-o')).toEqual([{ key: 'ipv4/ip_forward', value: '1' }]);
    // the uplink is shaped on the origin's egress, which the origin host's bytes leave by
    expect(t.egresses.find((e) => e.ns === 'epem-o')!.dev).toBe('epem-uo');
    expect(t.egresses.some((e) => e.dev === 'epem-m' || e.dev === 'epem-mo')).toBe(false);
  });

  it('builds only the sites of the first N nodes, and refuses more nodes than the scenario has', () => {
    expect(planTopology(base(), 5).sites).toHaveLength(2);
    expect(() => planTopology(base(), 13)).toThrow(InputError);
    expect(() => planTopology(base(), 0)).toThrow(InputError);
  });

  it('takes agent-mode, origin-strategy scenarios; says what it does not emulate', () => {
    expect(emulateScenario(base(), 'x.yaml', { registry: planes }).name).toBe('emu');
    expect(() => emulateScenario(base('strategy: peer'), 'x.yaml', { registry: planes })).toThrow(NotSupportedError);
    expect(() => emulateScenario(base('strategy: site-cache'), 'x.yaml', { registry: planes })).toThrow(/site cache or peer/);
    const native = scenario(base().name === 'emu' ? 'name: n\nfleet: {sites: 1, nodesPerSite: 2}\nplanes: [{name: opennebula, mode: native}]\n' : '');
    // a plane's own native deployment is emulated where the plane has one: OpenNebula over ssh, CloudStack with its KVM agents
    expect(emulateScenario(native, 'x.yaml', { registry: planes }).planes[0]!.mode).toBe('native');
    const csNative = scenario('name: n\nfleet: {sites: 1, nodesPerSite: 2}\nplanes: [{name: cloudstack, mode: native}]\n');
    expect(emulateScenario(csNative, 'x.yaml', { registry: planes }).planes[0]!.mode).toBe('native');
    expect(() => emulateScenario(base('strategy: peer'), 'x.yaml', { registry: planes })).toThrow(/opennebula|strategy peer/);
    const big = scenario('name: big\nfleet: {sites: 20, nodesPerSite: 50}\nplanes: [openstack]\n');
    expect(() => emulateScenario(big, 'big.yaml', { registry: planes })).toThrow(/give --nodes/);
    expect(() => emulateScenario(big, 'big.yaml', { nodes: 500, registry: planes })).toThrow(/at most 400/);
  });
});

describe('emulated fault timeline', () => {
  const faulty = base(`
faults:
  crashes:
    - {at: 5s, nodes: [site-000/node-0001, site-002/node-0003], downFor: 10s}
  linkDown:
    - {sites: [site-001], from: 2s, to: 4s}
  partitions:
    - {sites: [site-000, site-002], from: 20s, to: 30s}
  controlOutages:
    - {service: keystone, from: 1s, to: 3s}
`);

  it('crashes the selected nodes that are emulated, cuts built sites, stops the service; windows as the simulator reports them', () => {
    const fleet = expandFleet(faulty);
    const t = planTopology(faulty, 6); // sites 0 and 1 only
    const plan = planFaults(faulty, fleet, { emulated: t.nodes.map((n) => n.index), sites: t.sites.length, repeat: 0, horizonUs: 600e6, services: ['keystone', 'glance-api'] });
    expect(plan.actions).toContainEqual({ atUs: 5e6, kind: 'crash', node: 1 });
    expect(plan.actions).toContainEqual({ atUs: 15e6, kind: 'reboot', node: 1 });
    // site-002's node is not emulated, nor is site-002 built
    expect(plan.actions.filter((a) => a.kind === 'crash')).toHaveLength(1);
    expect(plan.actions.filter((a) => a.kind === 'cut').map((a) => ('site' in a ? a.site : -1))).toEqual([1, 0]);
    expect(plan.windows.map((w) => `${w.kind}:${w.target}`)).toEqual(['crash:site-000/node-0001', 'link-down:site-001', 'partition:site-000', 'control-outage:keystone']);
    const times = plan.actions.map((a) => a.atUs);
    expect([...times].sort((a, b) => a - b)).toEqual(times);
  });

  it('skips outages of services the plane does not have; crash-rate crashes are reproducible per repeat', () => {
    const s = base('faults: {controlOutages: [{service: keystone, from: 1s, to: 2s}], crashRate: {perNodePerHour: 60, downFor: 5s}}');
    const fleet = expandFleet(s);
    const o = { emulated: [0, 1, 2], sites: 1, horizonUs: 300e6, services: ['glance-api'] };
    const a = planFaults(s, fleet, { ...o, repeat: 0 });
    expect(a.actions.some((x) => x.kind === 'outage-start')).toBe(false);
    expect(a.actions.filter((x) => x.kind === 'crash').length).toBeGreaterThan(3);
    expect(planFaults(s, fleet, { ...o, repeat: 0 })).toEqual(a);
    expect(planFaults(s, fleet, { ...o, repeat: 1 }).actions).not.toEqual(a.actions);
    // a node is never crashed again before it has been rebooted
    for (const n of [0, 1, 2]) {
      const mine = a.actions.filter((x) => 'node' in x && x.node === n);
      mine.forEach((x, i) => expect(x.kind).toBe(i % 2 === 0 ? 'crash' : 'reboot'));
    }
  });

  it("moves a loopback service URL to the node's site router and collects its port for the relay", () => {
    const ports = new Set<number>();
    expect(viaRouter('http://127.0.0.1:5000/v3', '10.77.2.1', ports)).toBe('http://10.77.2.1:5000/v3');
    expect(viaRouter('http://localhost:9292', '10.77.2.1', ports)).toBe('http://10.77.2.1:9292');
    expect(viaRouter('http://127.0.0.1/', '10.77.2.1', ports)).toBe('http://10.77.2.1/');
    expect([...ports].sort((a, b) => a - b)).toEqual([80, 5000, 9292]);
    expect(() => viaRouter('http://192.0.2.7:5000/v3', '10.77.2.1', ports)).toThrow(NotSupportedError);
  });
});
