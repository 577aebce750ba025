#!/usr/bin/python3
"""A plain SimPy 3 model of an edgeplane rollout, for comparing simulators (npm run bench -- simpy).

It reads the JSON that bench/simpy/export.js writes from edgeplane's own plane models, so both
simulators use the same figures, and models the same things:

- topology: origin uplink -> site WAN downlink -> site LAN -> node access downlink; every image
  transfer is one flow over the shared links, capped by the node's access link and by
  streams x min(Mathis TCP cap, the data service's per-stream ceiling);
- max-min fair sharing by progressive filling, recomputed whenever a flow starts or ends
  (per flow: this is the plain way; edgeplane aggregates flows with equal paths into classes);
- control-plane services as FIFO queueing stations with `workers` servers and a backlog limit
  (a full backlog refuses at once), lognormal service times by median and p95;
- agent mode: each node's agent starts at a uniform moment within the start-up jitter, then
  login -> getAssignment -> getManifest -> getKey -> ranged fetch -> verify+decrypt -> boot,
  each control request a chain of API calls (half an RTT out, the station, half back), with the
  request timeout, token validation by worker process (cache TTL) where the plane has it, and
  the agent's retry backoff (equal jitter, base and cap from the agent) on `unavailable`;
- native mode: the plane's centre-driven steps (API calls, polls, periodic cycles with a
  per-cycle limit, one image copy from the origin, boot).

Random draws use Python's own generator (seeded): the two simulators agree statistically
(makespan, p50), not draw for draw. Faults, overrides, caches, peers and delta updates are
refused by the exporter.

usage: rollout.py MODEL.json [--plane NAME]   prints one JSON line per plane
"""
import heapq
import json
import math
import random
import sys
import time

import simpy

Z95 = 1.6448536269514722
Z99 = 2.3263478740408408


def lognormal_us(rng, median, quantile, z):
    sigma = math.log(quantile / median) / z if quantile != median else 0.0
    return round(median * math.exp(sigma * rng.gauss(0.0, 1.0)))


def draw_service(rng, s):
    return s["us"] if s["kind"] == "fixed" else lognormal_us(rng, s["medianUs"], s["p95Us"], Z95)


class Flow:
    __slots__ = ("links", "cap", "remaining", "rate", "done", "version")

    def __init__(self, links, cap, nbytes, done):
        self.links = links
        self.cap = cap
        self.remaining = float(nbytes)
        self.rate = 0.0  # bytes per us
        self.done = done
        self.version = 0


class Network:
    """Shared links with max-min fair rates over all active flows, recomputed at every change."""

    def __init__(self, env, capacities_bps):
        self.env = env
        self.capacity = [c / 8e6 for c in capacities_bps]  # bytes per us
        self.flows = set()
        self.last = 0.0
        self.heap = []
        self.pending = None
        self.recomputes = 0

    def start(self, links, cap_bps, nbytes):
        done = self.env.event()
        f = Flow(links, cap_bps / 8e6, nbytes, done)
        self.advance()
        self.flows.add(f)
        self.changed()
        return done

    def advance(self):
        dt = self.env.now - self.last
        if dt > 0:
            for f in self.flows:
                f.remaining -= f.rate * dt
        self.last = self.env.now

    def changed(self):
        # several changes at one instant: one recompute, after them
        if self.pending is None:
            self.pending = self.env.timeout(0)
            self.pending.callbacks.append(self.recompute)

    def recompute(self, _event=None):
        self.pending = None
        self.advance()
        self.recomputes += 1
        flows = self.flows
        remaining = list(self.capacity)
        on_link = {}
        for f in flows:
            for l in f.links:
                on_link.setdefault(l, []).append(f)
        unfrozen = {l: len(fs) for l, fs in on_link.items()}
        frozen = set()
        by_cap = sorted(flows, key=lambda f: f.cap)
        cap_i = 0
        new_rate = {}
        while len(frozen) < len(flows):
            link, share = None, math.inf
            for l, n in unfrozen.items():
                if n > 0 and remaining[l] / n < share:
                    link, share = l, remaining[l] / n
            while cap_i < len(by_cap) and by_cap[cap_i] in frozen:
                cap_i += 1
            if cap_i < len(by_cap) and by_cap[cap_i].cap <= share:
                to_freeze, rate = [by_cap[cap_i]], by_cap[cap_i].cap
            else:
                to_freeze, rate = [f for f in on_link[link] if f not in frozen], share
            for f in to_freeze:
                frozen.add(f)
                new_rate[f] = rate
                for l in f.links:
                    remaining[l] = max(0.0, remaining[l] - rate)
                    unfrozen[l] -= 1
        now = self.env.now
        for f, rate in new_rate.items():
            if rate != f.rate or f.version == 0:
                f.rate = rate
                f.version += 1
                if rate > 0:
                    heapq.heappush(self.heap, (now + max(0.0, f.remaining) / rate, id(f), f.version, f))
        self.schedule()

    def schedule(self):
        while self.heap:
            at, _, version, f = self.heap[0]
            if f not in self.flows or version != f.version:
                heapq.heappop(self.heap)
                continue
            ev = self.env.timeout(max(0.0, at - self.env.now))
            ev.callbacks.append(lambda _e, f=f, version=version: self.complete(f, version))
            return

    def complete(self, f, version):
        if f not in self.flows or version != f.version:
            return
        self.advance()
        done = [g for g in self.flows if g.remaining <= 1e-6 * max(1.0, g.rate)]
        if f not in done:
            done.append(f)
        for g in done:
            self.flows.discard(g)
            g.done.succeed()
        self.changed()


class Station:
    def __init__(self, env, spec, queue_limit):
        self.env = env
        self.res = simpy.Resource(env, capacity=spec["workers"])
        self.limit = queue_limit
        self.spec = spec

    def request(self, service_us):
        """An event that fires when served, or None when the backlog is full (refused)."""
        if self.res.count >= self.res.capacity and self.limit > 0 and len(self.res.queue) >= self.limit:
            return None
        done = self.env.event()
        self.env.process(self.serve(service_us, done))
        return done

    def serve(self, service_us, done):
        with self.res.request() as req:
            yield req
            yield self.env.timeout(service_us)
        done.succeed()


class Unavailable(Exception):
    pass


class Model:
    def __init__(self, m, plane, seed):
        self.m = m
        self.plane = plane
        self.env = simpy.Environment()
        self.rng = random.Random(seed)
        n_sites = m["sites"]
        # links: 0 origin, 1..S WAN down, S+1..2S LAN
        caps = [m["originUpBps"]] + [m["wanDownBps"]] * n_sites + [m["lanBps"]] * n_sites
        self.net = Network(self.env, caps)
        ql = m["queueLimit"]
        self.stations = {s["name"]: Station(self.env, s, s["queueLimit"] if ql == "plane" else ql) for s in plane["stations"]}
        self.tokens = {}
        self.end = []
        self.cycle_load = {}
        self.site_started = set()

    def flow_cap_bps(self, streams):
        per_stream = math.inf
        if self.m["mathisBps"] is not None:
            per_stream = self.m["mathisBps"]
        if self.plane["originStreamBps"] is not None:
            per_stream = min(per_stream, self.plane["originStreamBps"])
        return min(self.m["accessDownBps"], streams * per_stream)

    def from_origin(self, node, nbytes, streams):
        site = node // self.m["nodesPerSite"]
        s = self.m["sites"]
        return self.net.start((0, 1 + site, 1 + s + site), self.flow_cap_bps(streams), nbytes)

    def boot_us(self):
        b = self.m["boot"]
        return b["us"] if b["kind"] == "fixed" else lognormal_us(self.rng, b["medianUs"], b["p99Us"], Z99)

    # --- agent mode -----------------------------------------------------------------------

    def api_call(self, node, op, token_at, rtt):
        """One API call of a control request: a generator returning when answered, raising Unavailable on refusal."""
        env = self.env
        half = rtt // 2
        yield env.timeout(half)
        station = self.stations[op["station"]]
        tv = self.plane["tokenValidation"]
        if tv is not None and op["station"] in tv["validatingStations"]:
            processes = 1 if tv["cacheScope"] == "shared" else max(1, station.spec["processes"])
            process = 0 if processes == 1 else self.rng.randint(0, processes - 1)
            key = (op["station"], process, node)
            t = self.tokens.get(key)
            if not (t is not None and t >= token_at and env.now - t < tv["cacheTtlUs"]):
                check = self.stations[tv["station"]].request(draw_service(self.rng, tv["service"]))
                if check is None:
                    yield env.timeout(rtt - half)
                    raise Unavailable()
                yield check
                self.tokens[key] = env.now
        served = station.request(draw_service(self.rng, op["service"]))
        if served is None:
            yield env.timeout(rtt - half)
            raise Unavailable()
        yield served
        yield env.timeout(rtt - half)

    def control(self, node, name, state):
        """A control request with the request timeout: True when answered, False when unavailable."""
        env = self.env
        rtt = self.m["rttToCentreUs"]
        ops = self.plane["agentOps"][name]

        def chain():
            for op in ops:
                yield from self.api_call(node, op, state["token"], rtt)

        proc = env.process(chain())
        timeout = self.m["requestTimeoutUs"]
        try:
            if timeout > 0:
                t = env.timeout(timeout)
                got = yield proc | t
                if proc not in got:
                    proc.defused = True
                    return False
            else:
                yield proc
        except Unavailable:
            return False
        if name == "login":
            state["token"] = env.now
        return True

    def validate_data(self, node, state):
        """The data service checks the token of the range requests: each worker process they land on
        (up to one per request) that has not cached it asks the identity service, rangesInFlight at a
        time. False when the identity service refused one."""
        env = self.env
        tv = self.plane["tokenValidation"]
        station = self.plane["dataStation"]
        if tv is None or station not in tv["validatingStations"]:
            return True
        processes = 1 if tv["cacheScope"] == "shared" else max(1, self.stations[station].spec["processes"])
        misses = []
        for p in range(min(processes, self.m["chunks"])):
            t = self.tokens.get((station, p, node))
            if not (t is not None and t >= state["token"] and env.now - t < tv["cacheTtlUs"]):
                misses.append(p)
        identity = self.stations[tv["station"]]
        width = max(1, self.m["rangesInFlight"])
        open_checks = []
        nxt = 0
        while nxt < len(misses) or open_checks:
            while len(open_checks) < width and nxt < len(misses):
                p = misses[nxt]
                nxt += 1
                check = identity.request(draw_service(self.rng, tv["service"]))
                if check is None:
                    return False
                check.callbacks.append(lambda _e, p=p: self.tokens.__setitem__((station, p, node), env.now))
                open_checks.append(check)
            yield env.any_of(open_checks)
            open_checks = [c for c in open_checks if not c.processed]
        return True

    def backoff_us(self, attempt):
        a = self.m["agent"]
        ceiling = min(a["backoffCapUs"], a["backoffBaseUs"] * 2 ** max(0, attempt - 1))
        half = ceiling // 2
        return half + math.floor(self.rng.random() * (ceiling - half))

    def agent(self, node):
        env = self.env
        jitter = self.m["startJitterUs"]
        if jitter > 0:
            yield env.timeout(self.rng.randint(0, jitter - 1))
        state = {"token": -1}
        # the happy path; a failed step backs off and retries (getManifest and getKey re-read the assignment first)
        for name in ("login", "getAssignment", "getManifest", "getKey"):
            attempt = 0
            ok = yield from self.control(node, name, state)
            while not ok:
                attempt += 1
                yield env.timeout(self.backoff_us(attempt))
                if name in ("getManifest", "getKey"):
                    # the re-read is best effort: answered or not, the stalled request is retried
                    yield from self.control(node, "getAssignment", state)
                ok = yield from self.control(node, name, state)
        rif = self.m["rangesInFlight"]
        attempt = 0
        while not (yield from self.validate_data(node, state)):
            attempt += 1
            yield env.timeout(self.backoff_us(attempt))
            yield from self.control(node, "getAssignment", state)
        rounds = math.ceil(self.m["chunks"] / max(1, rif))
        yield env.timeout(rounds * self.m["rttToCentreUs"])
        yield self.from_origin(node, self.m["sealedBytes"], rif)
        verify = math.ceil(self.m["imageBytes"] * 8 * 1e6 / self.m["diskBps"])
        yield env.timeout(2 * verify)
        yield env.timeout(self.boot_us())
        self.end.append(env.now)

    # --- native mode ----------------------------------------------------------------------

    def native_api(self, op):
        env = self.env
        rtt = self.m["originRttUs"]
        half = rtt // 2
        while True:
            yield env.timeout(half)
            served = self.stations[op["station"]].request(draw_service(self.rng, op["service"]))
            if served is not None:
                yield served
                yield env.timeout(rtt - half)
                return
            yield env.timeout(30_000_000)  # NATIVE_RETRY_US

    def cycle_slot(self, step):
        load = self.cycle_load.setdefault(step["name"], {})
        period = step["periodUs"]
        cycle = math.floor(self.env.now / period) + 1
        if step["perCycleLimit"] > 0:
            while load.get(cycle, 0) >= step["perCycleLimit"]:
                cycle += 1
        load[cycle] = load.get(cycle, 0) + 1
        return cycle * period

    def native(self, node):
        env = self.env
        site = node // self.m["nodesPerSite"]
        first = site not in self.site_started
        self.site_started.add(site)
        steps = self.plane["nativeSteps"]["first" if first else "other"]
        for s in steps:
            k = s["kind"]
            if k == "api":
                yield from self.native_api(s)
            elif k == "poll":
                for i in range(s["polls"]):
                    yield from self.native_api(s)
                    if i < s["polls"] - 1:
                        yield env.timeout(s["intervalUs"])
            elif k == "cycle":
                yield env.timeout(self.cycle_slot(s) - env.now)
            elif k == "transfer":
                yield self.from_origin(node, self.m["imageBytes"], 1)
            elif k == "boot":
                yield env.timeout(self.boot_us())
        self.end.append(env.now)

    def run(self):
        n = self.m["sites"] * self.m["nodesPerSite"]
        for node in range(n):
            self.env.process(self.agent(node) if self.plane["mode"] == "agent" else self.native(node))
        self.env.run()
        return n


def quantile(sorted_values, q):
    # the same interpolation as edgeplane's common quantile (type 7)
    if not sorted_values:
        return float("nan")
    pos = (len(sorted_values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    with open(args[0]) as fh:
        m = json.load(fh)
    only = args[args.index("--plane") + 1] if "--plane" in args else None
    for i, plane in enumerate(m["planes"]):
        if only and plane["name"] != only:
            continue
        cpu0, wall0 = time.process_time(), time.perf_counter()
        model = Model(m, plane, m["seed"] * 1000 + i)
        n = model.run()
        ends = sorted(model.end)
        print(json.dumps({
            "plane": plane["name"],
            "mode": plane["mode"],
            "nodes": n,
            "finished": len(ends),
            "p50_s": quantile(ends, 0.5) / 1e6,
            "makespan_s": (ends[-1] if ends else 0) / 1e6,
            "cpu_s": time.process_time() - cpu0,
            "wall_s": time.perf_counter() - wall0,
            "recomputes": model.net.recomputes,
        }), flush=True)


if __name__ == "__main__":
    main()
