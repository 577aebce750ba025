// The emulated fleet's topology as data: which network namespaces, veth pairs, bridges,
// addresses, routes and tc qdiscs `--env emulate` creates for a scenario (pure: no I/O, so it is
// unit-tested; netns.ts executes it). Namespaces are named epem-*, addresses are in 10.77.0.0/16.
//
//   epem-o (origin: the plane's service)  10.77.0.1/30  --uplink--  10.77.0.2/30  epem-c (core)
//   epem-c  10.77.2.x/30 --site WAN-- epem-s<s> (site router)  br 10.77.(128+s).1/24  --access--  epem-n<i>  10.77.(128+s).(2+slot)
//
// Every link is shaped in both directions by a tbf on each end's egress: the uplink at the
// origin's rate, the WAN at the site's down/up rates, the LAN on the site bridge (router to nodes),
// the access link at the node's down/up rates. Propagation delay and loss go on the same egresses
// as netem children when the kernel has netem; otherwise delay is added by a relay (relay.ts) in
// each site router, and loss is not reproduced.
//
// Hosted nodes (an agent host process drives several agent machines, docs/emulate.md): the node
// end of each hosted node's access veth sits in its site's host namespace epem-h<s> instead of a
// namespace of its own, with the node's address (/32). Each hosted node talks to its own alias of
// the site router (10.78.<s>.<2+slot>, on the router's lo), and the host namespace routes that
// alias out of the node's own veth with the node's address as source: the agent machine needs no
// socket binding, its packets take its own shaped access link both ways (arp_ignore=1 in the host
// namespace, so only the node's veth answers for its address).
//
// The origin host (a native plane whose services run in this machine's own namespace): an unshaped
// veth epem-m (10.77.1.1, root namespace) -- epem-mo (10.77.1.2, epem-o); epem-o forwards, the core
// routes 10.77.1.0/30 back through it and the root namespace routes 10.77.0.0/16 into it, so what
// listens on 10.77.1.1 reaches the nodes across the origin uplink and everything after it.
import { InputError, NotSupportedError } from '../../common/index.js';
import { expandFleet, type Fleet, type LinkParams } from '../../edge-sim/index.js';
import type { Scenario } from '../../scenarios/index.js';

export const NS_PREFIX = 'epem-';
export const ORIGIN_NS = 'epem-o';
export const CORE_NS = 'epem-c';
export const ORIGIN_IP = '10.77.0.1';
const CORE_UPLINK_IP = '10.77.0.2';
/** The origin host's address (root namespace) and its veth into the origin namespace. */
export const ORIGIN_HOST_IP = '10.77.1.1';
const ORIGIN_HOST_PEER_IP = '10.77.1.2';
const ORIGIN_HOST_DEV = 'epem-m';
const ORIGIN_HOST_PEER_DEV = 'epem-mo';
/** sites: one /24 each at 10.77.(128+s).0 */
export const MAX_EMULATED_SITES = 127;
/** nodes per site: .2 .. .254 of the site's /24 */
export const MAX_EMULATED_NODES_PER_SITE = 253;

export interface ShapedEgress {
  ns: string;
  dev: string;
  bitsPerS: number;
  /** one-way delay (µs) and loss on this egress, applied with netem when the kernel has it */
  delayUs: number;
  loss: number;
}

export interface EmulatedSite {
  index: number;
  id: string;
  ns: string;
  /** the router's address on its LAN (the relay listens here) */
  lanIp: string;
  wan: LinkParams;
  lanBitsPerS: number;
  /** the WAN veth ends: core side, site side */
  wanDevs: { core: string; site: string };
  wanIps: { core: string; site: string };
  bridge: string;
}

export interface EmulatedNode {
  /** index in the scenario's fleet (site-major) */
  index: number;
  id: string;
  site: number;
  slot: number;
  ns: string;
  ip: string;
  access: LinkParams;
  accessDevs: { site: string; node: string };
  /** run by an agent host process in the site's host namespace (`ns` is that namespace) */
  hosted: boolean;
  /** the address of the site router this node's plane URL names: the router's LAN address, or the node's own alias of it when hosted */
  routerIp: string;
}

/** One agent host process: the hosted nodes of one site it drives (at most agentsPerProcess). */
export interface AgentHost {
  site: number;
  ns: string;
  /** node indexes (in the scenario's fleet) */
  nodes: number[];
}

/** Which nodes share a process: `agentsPerProcess` 1 is a process per node; `solo` nodes always get their own (e.g. the ones a crash fault SIGKILLs). */
export interface Hosting {
  agentsPerProcess: number;
  solo?: ReadonlySet<number>;
  /** link the root namespace in as the origin host (ORIGIN_HOST_IP) */
  originHost?: boolean;
}

export interface Topology {
  sites: EmulatedSite[];
  nodes: EmulatedNode[];
  originUplinkBitsPerS: number;
  originRttUs: number;
  /** every shaped egress, both directions of every link */
  egresses: ShapedEgress[];
  /** every namespace, origin and core first */
  namespaces: string[];
  /** agent host processes (empty when every node runs alone) */
  hosts: AgentHost[];
  /** the origin host link (root namespace <-> epem-o), when a plane's services run in the root namespace */
  originHost: boolean;
}

/** The namespace of the site's agent hosts. */
export const hostNamespace = (site: number) => `${NS_PREFIX}h${site}`;
/** The alias of site `site`'s router that the hosted node in `slot` talks to. */
const routerAlias = (site: number, slot: number) => `10.78.${site}.${2 + slot}`;

function wanPair(s: number): { core: string; site: string } {
  const base = 4 * s; // 10.77.2.0/23 cut into /30s
  const third = 2 + Math.floor(base / 256);
  const fourth = base % 256;
  return { core: `10.77.${third}.${fourth + 1}`, site: `10.77.${third}.${fourth + 2}` };
}

/** One-way delay of a link whose round trip is `rttUs`. */
const oneWay = (rttUs: number) => Math.round(rttUs / 2);

/**
 * The topology of the scenario's first `nodes` nodes (site-major, as the simulator orders them),
 * with every site that holds one of them.
 */
export function planTopology(scenario: Scenario, nodes: number, fleet: Fleet = expandFleet(scenario), hosting: Hosting = { agentsPerProcess: 1 }): Topology {
  if (!Number.isInteger(nodes) || nodes < 1) throw new InputError('--nodes must be a whole number of at least 1');
  if (!Number.isInteger(hosting.agentsPerProcess) || hosting.agentsPerProcess < 1) throw new InputError('--agents-per-process must be a whole number of at least 1');
  if (nodes > fleet.nodes.length) throw new InputError(`--nodes ${nodes}: scenario ${scenario.name} has only ${fleet.nodes.length} nodes`);
  const chosen = fleet.nodes.slice(0, nodes);
  const siteCount = chosen[chosen.length - 1]!.site + 1;
  if (siteCount > MAX_EMULATED_SITES) throw new InputError(`${scenario.name}: ${siteCount} sites; the emulation builds at most ${MAX_EMULATED_SITES} (one /24 each in 10.77.0.0/16)`);
  if (scenario.fleet.nodesPerSite > MAX_EMULATED_NODES_PER_SITE && chosen.length > MAX_EMULATED_NODES_PER_SITE) {
    throw new InputError(`${scenario.name}: ${scenario.fleet.nodesPerSite} nodes per site; the emulation builds at most ${MAX_EMULATED_NODES_PER_SITE} per site`);
  }
  const sites: EmulatedSite[] = fleet.sites.slice(0, siteCount).map((s) => ({
    index: s.index,
    id: s.id,
    ns: `${NS_PREFIX}s${s.index}`,
    lanIp: `10.77.${128 + s.index}.1`,
    wan: s.wan,
    lanBitsPerS: s.lanBitsPerS,
    wanDevs: { core: `epem-w${s.index}c`, site: `epem-w${s.index}s` },
    wanIps: wanPair(s.index),
    bridge: `epem-br${s.index}`,
  }));
  const hostedNode = (index: number) => hosting.agentsPerProcess > 1 && !hosting.solo?.has(index);
  const emuNodes: EmulatedNode[] = chosen.map((n) => ({
    index: n.index,
    id: n.id,
    site: n.site,
    slot: n.slot,
    ns: hostedNode(n.index) ? hostNamespace(n.site) : `${NS_PREFIX}n${n.index}`,
    ip: `10.77.${128 + n.site}.${2 + n.slot}`,
    access: n.access,
    accessDevs: { site: `epem-n${n.index}s`, node: `epem-n${n.index}n` },
    hosted: hostedNode(n.index),
    routerIp: hostedNode(n.index) ? routerAlias(n.site, n.slot) : sites[n.site]!.lanIp,
  }));
  const hosts: AgentHost[] = [];
  for (const s of sites) {
    const mine = emuNodes.filter((n) => n.hosted && n.site === s.index).map((n) => n.index);
    for (let i = 0; i < mine.length; i += hosting.agentsPerProcess) hosts.push({ site: s.index, ns: hostNamespace(s.index), nodes: mine.slice(i, i + hosting.agentsPerProcess) });
  }
  const o = scenario.origin;
  const egresses: ShapedEgress[] = [
    { ns: ORIGIN_NS, dev: 'epem-uo', bitsPerS: o.uplinkBitsPerS, delayUs: oneWay(o.rttUs), loss: 0 },
    { ns: CORE_NS, dev: 'epem-uc', bitsPerS: o.uplinkBitsPerS, delayUs: oneWay(o.rttUs), loss: 0 },
  ];
  for (const s of sites) {
    egresses.push({ ns: CORE_NS, dev: s.wanDevs.core, bitsPerS: s.wan.downBitsPerS, delayUs: oneWay(s.wan.rttUs), loss: s.wan.loss });
    egresses.push({ ns: s.ns, dev: s.wanDevs.site, bitsPerS: s.wan.upBitsPerS, delayUs: oneWay(s.wan.rttUs), loss: s.wan.loss });
    egresses.push({ ns: s.ns, dev: s.bridge, bitsPerS: s.lanBitsPerS, delayUs: 0, loss: 0 });
  }
  for (const n of emuNodes) {
    egresses.push({ ns: sites[n.site]!.ns, dev: n.accessDevs.site, bitsPerS: n.access.downBitsPerS, delayUs: oneWay(n.access.rttUs), loss: n.access.loss });
    egresses.push({ ns: n.ns, dev: n.accessDevs.node, bitsPerS: n.access.upBitsPerS, delayUs: oneWay(n.access.rttUs), loss: n.access.loss });
  }
  return {
    sites,
    nodes: emuNodes,
    originUplinkBitsPerS: o.uplinkBitsPerS,
    originRttUs: o.rttUs,
    egresses,
    namespaces: [ORIGIN_NS, CORE_NS, ...sites.map((s) => s.ns), ...new Set(hosts.map((h) => h.ns)), ...emuNodes.filter((n) => !n.hosted).map((n) => n.ns)],
    hosts,
    originHost: hosting.originHost === true,
  };
}

/**
 * A loopback URL of the plane's own services as node sees it: the same port at its site router
 * (`routerIp`), where a relay forwards it to the origin host; the port is added to `ports`.
 */
export function viaRouter(url: string, routerIp: string, ports: Set<number>): string {
  const u = new URL(url);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) throw new NotSupportedError(`${url}: the emulation reaches the plane's own services on this machine's loopback only`);
  const port = u.port === '' ? (u.protocol === 'https:' ? 443 : 80) : Number(u.port);
  ports.add(port);
  u.hostname = routerIp;
  u.port = String(port);
  return u.toString().replace(/\/$/, url.endsWith('/') ? '/' : '');
}

/** A node's whole path to the origin, one way (µs): what the relay adds when netem is missing. */
export function pathOneWayUs(t: Pick<Topology, 'originRttUs' | 'sites'>, n: Pick<EmulatedNode, 'site' | 'access'>): number {
  return oneWay(t.originRttUs) + oneWay(t.sites[n.site]!.wan.rttUs) + oneWay(n.access.rttUs);
}

/**
 * The tbf (and netem child) commands of one egress, for `tc -batch`. burst: 10 ms at the rate (at
 * least 32 KiB, so the kernel's timer granularity does not cap the rate); queue: 100 ms at the rate.
 */
export function shapingCommands(e: ShapedEgress, netem: boolean): string[] {
  const bytesPerS = e.bitsPerS / 8;
  const burst = Math.max(32 * 1024, Math.ceil(bytesPerS / 100));
  const limit = Math.max(256 * 1024, Math.ceil(bytesPerS / 10)) + burst;
  const out = [`qdisc replace dev ${e.dev} root handle 1: tbf rate ${Math.round(e.bitsPerS)}bit burst ${burst} limit ${limit}`];
  if (netem && (e.delayUs > 0 || e.loss > 0)) {
    const loss = e.loss > 0 ? ` loss ${(e.loss * 100).toFixed(4)}%` : '';
    out.push(`qdisc add dev ${e.dev} parent 1:1 handle 10: netem delay ${e.delayUs}us${loss} limit 100000`);
  }
  return out;
}

/** `ip -batch` lines run in the root namespace: namespaces and veth pairs created in place. */
export function creationCommands(t: Topology): string[] {
  const out = t.namespaces.map((ns) => `netns add ${ns}`);
  out.push(`link add epem-uo netns ${ORIGIN_NS} type veth peer name epem-uc netns ${CORE_NS}`);
  for (const s of t.sites) out.push(`link add ${s.wanDevs.core} netns ${CORE_NS} type veth peer name ${s.wanDevs.site} netns ${s.ns}`);
  for (const n of t.nodes) out.push(`link add ${n.accessDevs.site} netns ${t.sites[n.site]!.ns} type veth peer name ${n.accessDevs.node} netns ${n.ns}`);
  if (t.originHost) out.push(`link add ${ORIGIN_HOST_DEV} type veth peer name ${ORIGIN_HOST_PEER_DEV} netns ${ORIGIN_NS}`);
  return out;
}

/** `ip -batch` lines for the root namespace after creation: the origin host's end (gone with epem-o, routes with it). */
export function rootCommands(t: Topology): string[] {
  if (!t.originHost) return [];
  return [`addr add ${ORIGIN_HOST_IP}/30 dev ${ORIGIN_HOST_DEV}`, `link set ${ORIGIN_HOST_DEV} up`, `route add 10.77.0.0/16 via ${ORIGIN_HOST_PEER_IP} dev ${ORIGIN_HOST_DEV}`];
}

/** Per namespace, the `ip -batch` lines that address, bridge and route it. */
export function namespaceCommands(t: Topology): Map<string, string[]> {
  const m = new Map<string, string[]>();
  const add = (ns: string, ...lines: string[]) => m.set(ns, [...(m.get(ns) ?? []), ...lines]);
  add(ORIGIN_NS, 'link set lo up', `addr add ${ORIGIN_IP}/30 dev epem-uo`, 'link set epem-uo up', `route add default via ${CORE_UPLINK_IP}`);
  add(CORE_NS, 'link set lo up', `addr add ${CORE_UPLINK_IP}/30 dev epem-uc`, 'link set epem-uc up');
  if (t.originHost) {
    add(ORIGIN_NS, `addr add ${ORIGIN_HOST_PEER_IP}/30 dev ${ORIGIN_HOST_PEER_DEV}`, `link set ${ORIGIN_HOST_PEER_DEV} up`);
    add(CORE_NS, `route add 10.77.1.0/30 via ${ORIGIN_IP}`);
  }
  for (const s of t.sites) {
    add(CORE_NS, `addr add ${s.wanIps.core}/30 dev ${s.wanDevs.core}`, `link set ${s.wanDevs.core} up`, `route add 10.77.${128 + s.index}.0/24 via ${s.wanIps.site}`);
    add(
      s.ns,
      'link set lo up',
      `addr add ${s.wanIps.site}/30 dev ${s.wanDevs.site}`,
      `link set ${s.wanDevs.site} up`,
      `route add default via ${s.wanIps.core}`,
      `link add ${s.bridge} type bridge`,
      `addr add ${s.lanIp}/24 dev ${s.bridge}`,
      `link set ${s.bridge} up`,
    );
  }
  for (const ns of new Set(t.hosts.map((h) => h.ns))) add(ns, 'link set lo up');
  for (const n of t.nodes) {
    const s = t.sites[n.site]!;
    add(s.ns, `link set ${n.accessDevs.site} master ${s.bridge}`, `link set ${n.accessDevs.site} up`);
    if (n.hosted) {
      add(s.ns, `addr add ${n.routerIp}/32 dev lo`);
      add(n.ns, `addr add ${n.ip}/32 dev ${n.accessDevs.node}`, `link set ${n.accessDevs.node} up`, `route add ${n.routerIp}/32 via ${s.lanIp} dev ${n.accessDevs.node} src ${n.ip} onlink`);
    } else add(n.ns, 'link set lo up', `addr add ${n.ip}/24 dev ${n.accessDevs.node}`, `link set ${n.accessDevs.node} up`, `route add default via ${s.lanIp}`);
  }
  return m;
}

/**
 * Sysctls per namespace (written under /proc/sys/net inside it): routers forward; a host
 * namespace answers ARP for an address only on the interface that has it and announces it from
 * there (several node veths share the site's LAN).
 */
export function sysctlWrites(t: Topology): Map<string, { key: string; value: string }[]> {
  const m = new Map<string, { key: string; value: string }[]>();
  for (const ns of [...(t.originHost ? [ORIGIN_NS] : []), CORE_NS, ...t.sites.map((s) => s.ns)]) m.set(ns, [{ key: 'ipv4/ip_forward', value: '1' }]);
  for (const ns of new Set(t.hosts.map((h) => h.ns))) {
    m.set(ns, [
      { key: 'ipv4/conf/all/arp_ignore', value: '1' },
      { key: 'ipv4/conf/all/arp_announce', value: '2' },
    ]);
  }
  return m;
}

/** The two ends of a site's WAN link, to cut it (link-down, partition) and bring it back. */
export function wanCut(t: Topology, site: number, down: boolean): { ns: string; lines: string[] }[] {
  const s = t.sites[site]!;
  // a silent cut, as the simulator models it (the WAN at 0 bits/s): blackhole routes drop what the
  // routers forward without an ICMP unreachable, so a connection begun during the cut retries its
  // SYN and goes through when the link returns instead of failing at once
  if (down) {
    return [
      { ns: CORE_NS, lines: [`route replace blackhole 10.77.${128 + s.index}.0/24`, `link set ${s.wanDevs.core} down`] },
      { ns: s.ns, lines: ['route replace blackhole default', `link set ${s.wanDevs.site} down`] },
    ];
  }
  // an admin-down link loses its routes: bring both ends up, then the routes back
  return [
    { ns: CORE_NS, lines: [`link set ${s.wanDevs.core} up`] },
    { ns: s.ns, lines: [`link set ${s.wanDevs.site} up`] },
    { ns: CORE_NS, lines: [`route replace 10.77.${128 + s.index}.0/24 via ${s.wanIps.site}`] },
    { ns: s.ns, lines: [`route replace default via ${s.wanIps.core}`] },
  ];
}
