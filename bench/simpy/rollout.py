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
  (a request that finds every worker busy and the backlog full is refused at once, counted at
  the instant it arrives), lognormal service times by median and p95;
- agent mode: each node's agent starts at a uniform moment within the start-up jitter (default
  one poll interval), then login -> getAssignment -> getManifest -> getKey -> fetch -> one read
  of the staged image at the disk rate -> boot. Each control request is a chain of API calls
  (half an RTT out, the station, half back) with the request timeout; services that check tokens
  do so per worker process (a random one per request, each with its own cache and TTL). The
  fetch is one whole-stream GET where the plane has one and the scenario's wholeStreamAt asks
  for it (one token check, one request at the data service, the first byte a round trip later,
  one stream), else ranged rounds (token checked by each worker process the ranges land on,
  the rounds' server time at one worker, a round trip per round, rangesInFlight streams).
  A refused or timed-out step backs off (equal jitter, the agent's base, the scenario's cap)
  and is retried; a stalled manifest, key or fetch first re-reads the assignment once the
  backoff since the last read has reached the poll interval. A running agent reports RUNNING
  (owed until answered) and polls its assignment every poll interval until the run ends;
- native mode: the plane's centre-driven steps (API calls retried later when refused, polls,
  periodic cycles with a per-cycle limit, one image copy from the origin, boot). A copy whose
  driver blocks on it holds a worker of its station for the set-up and while the bytes move
  (OpenNebula's TM: 15 at a time); a dispatched copy runs its set-up on the host.

Random draws use Python's own generator (seeded): the two simulators agree statistically
(makespan, p50), not draw for draw. Faults, overrides, admission limits, caches, peers, site
replicas, delta updates and retry limits are refused by the exporter.

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
    """A control-plane service: `workers` FIFO servers (a SimPy Resource) and a backlog limit.

    A request is taken in while a worker is free or the backlog has room and refused at once
    otherwise; the count is kept at the moment of the request, so requests of one instant see
    each other. With `hold`, the worker stays taken after its service time while the generator
    `hold()` runs (a driver action that lasts as long as the copy it runs).
    """

    def __init__(self, env, spec, queue_limit):
        self.env = env
        self.spec = spec
        self.res = simpy.Resource(env, capacity=spec["workers"])
        self.limit = queue_limit
        self.inside = 0  # requests being served or waiting

    def request(self, service_us, hold=None):
        """A process that ends once served, or None when refused (every worker busy, backlog full)."""
        if self.limit > 0 and self.inside >= self.res.capacity + self.limit:
            return None
        self.inside += 1
        return self.env.process(self.serve(service_us, hold))

    def serve(self, service_us, hold):
        with self.res.request() as req:
            yield req
            yield self.env.timeout(service_us)
            if hold is not None:
                yield from hold()
        self.inside -= 1


class Unavailable(Exception):
    pass


class Model:
    def __init__(self, m, plane, seed):
        self.m = m
        self.plane = plane
        self.env = simpy.Environment()
        self.rng = random.Random(seed)
        n_sites = m["sites"]
        self.nodes = n_sites * m["nodesPerSite"]
        # links: 0 origin, 1..S WAN down, S+1..2S LAN
        caps = [m["originUpBps"]] + [m["wanDownBps"]] * n_sites + [m["lanBps"]] * n_sites
        self.net = Network(self.env, caps)
        ql = m["queueLimit"]
        self.stations = {s["name"]: Station(self.env, s, s["queueLimit"] if ql == "plane" else ql) for s in plane["stations"]}
        self.tokens = {}
        self.end = []
        self.failed = 0
        self.all_done = self.env.event()
        self.cycle_load = {}
        self.site_started = set()

    def finished(self, ok):
        if ok:
            self.end.append(self.env.now)
        else:
            self.failed += 1
        if len(self.end) + self.failed == self.nodes:
            self.all_done.succeed()

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

    def token_check(self, node, name, state):
        """A station that checks tokens looks in the cache of the worker process the request lands
        on; on a miss that process asks the identity service. Returns False when that refused."""
        tv = self.plane["tokenValidation"]
        if tv is None or name not in tv["validatingStations"]:
            return True
        env = self.env
        processes = 1 if tv["cacheScope"] == "shared" else max(1, self.stations[name].spec["processes"])
        process = 0 if processes == 1 else self.rng.randint(0, processes - 1)
        key = (name, process, node)
        t = self.tokens.get(key)
        if t is not None and t >= state["token"] and env.now - t < tv["cacheTtlUs"]:
            return True
        check = self.stations[tv["station"]].request(draw_service(self.rng, tv["service"]))
        if check is None:
            return False
        yield check
        self.tokens[key] = env.now
        return True

    def api_call(self, node, op, state, rtt):
        """One API call of a control request: half an RTT out, the token check, the station, half
        back. Raises Unavailable (half an RTT after the refusal) when refused."""
        env = self.env
        half = rtt // 2
        yield env.timeout(half)
        if not (yield from self.token_check(node, op["station"], state)):
            yield env.timeout(rtt - half)
            raise Unavailable()
        served = self.stations[op["station"]].request(draw_service(self.rng, op["service"]))
        if served is None:
            yield env.timeout(rtt - half)
            raise Unavailable()
        yield served
        yield env.timeout(rtt - half)

    def control(self, node, name, state):
        """A control request, its API calls in turn, with the request timeout: True when answered,
        False when unavailable. After a timeout the call in progress is still served (the server
        does not know the client left), the later ones are not made."""
        env = self.env
        rtt = self.m["rttToCentreUs"]
        ops = self.plane["agentOps"][name]
        over = []

        def chain():
            for op in ops:
                if over:
                    return
                yield from self.api_call(node, op, state, rtt)

        proc = env.process(chain())
        timeout = self.m["requestTimeoutUs"]
        try:
            if timeout > 0:
                got = yield proc | env.timeout(timeout)
                if proc not in got:
                    over.append(True)
                    proc.defused = True
                    return False
            else:
                yield proc
        except Unavailable:
            return False
        if name == "login":
            state["token"] = env.now
        elif name == "getAssignment":
            state["since_read"] = 0
        return True

    def backoff_us(self, attempt):
        a = self.m["agent"]
        ceiling = min(a["backoffCapUs"], a["backoffBaseUs"] * 2 ** max(0, attempt - 1))
        half = ceiling // 2
        return half + math.floor(self.rng.random() * (ceiling - half))

    def back_off(self, node, attempt, state, stalled):
        """The agent's retry backoff. A stalled deployment step (manifest, key, fetch) first re-reads
        the assignment once the backoff since the last read has reached the poll interval; the
        re-read is best effort (answered or not, the step is retried)."""
        delay = self.backoff_us(attempt)
        state["since_read"] += delay
        yield self.env.timeout(delay)
        if stalled and state["since_read"] >= self.m["agent"]["pollIntervalUs"]:
            yield from self.control(node, "getAssignment", state)

    def until_answered(self, node, name, state, stalled=False):
        attempt = 0
        while not (yield from self.control(node, name, state)):
            attempt += 1
            yield from self.back_off(node, attempt, state, stalled)

    def validate_ranges(self, node, state):
        """The data service checks the token of every range request: each worker process they land
        on (up to one per request) that has not cached it asks the identity service, rangesInFlight
        at a time. False when the identity service refused one."""
        env = self.env
        tv = self.plane["tokenValidation"]
        station = self.plane["dataOp"]["station"]
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

    def fetch_once(self, node, state):
        """One fetch of the image from the origin: True when it arrived, False when refused."""
        env = self.env
        rtt = self.m["rttToCentreUs"]
        whole = self.plane["wholeOp"]
        station = self.stations[self.plane["dataOp"]["station"]]
        if whole is not None:
            # one GET of the whole blob: its token checked by the one worker process it lands on,
            # one request at the data service, the first byte a round trip later, one stream
            if not (yield from self.token_check(node, whole["station"], state)):
                yield env.timeout(rtt)
                return False
            served = station.request(draw_service(self.rng, whole["service"]))
            first_byte_us, streams = rtt, 1
        else:
            # range requests, rangesInFlight at a time: each round costs a round trip before its
            # first byte, and the requests' server time (one worker, rounds in turn)
            if not (yield from self.validate_ranges(node, state)):
                return False
            rounds = math.ceil(self.m["chunks"] / max(1, self.m["rangesInFlight"]))
            served = station.request(rounds * draw_service(self.rng, self.plane["dataOp"]["service"]))
            first_byte_us, streams = rounds * rtt, self.m["rangesInFlight"]
        if served is None:
            yield env.timeout(rtt)
            return False
        yield served
        yield env.timeout(first_byte_us)
        yield self.from_origin(node, self.m["sealedBytes"], streams)
        return True

    def agent(self, node):
        env = self.env
        jitter = self.m["startJitterUs"]
        if jitter > 0:
            yield env.timeout(self.rng.randint(0, jitter - 1))
        state = {"token": -1, "since_read": 0}
        yield from self.until_answered(node, "login", state)
        yield from self.until_answered(node, "getAssignment", state)
        yield from self.until_answered(node, "getManifest", state, stalled=True)
        yield from self.until_answered(node, "getKey", state, stalled=True)
        attempt = 0
        while not (yield from self.fetch_once(node, state)):
            attempt += 1
            yield from self.back_off(node, attempt, state, True)
        yield env.timeout(self.m["stageUs"])
        yield env.timeout(self.boot_us())
        self.finished(True)
        # running: the agent reports it (best effort: owed until one is answered, sent after a
        # poll) and reads its assignment every poll interval, loading the plane while others deploy
        owed = True
        while True:
            if owed:
                owed = not (yield from self.control(node, "report", state))
            yield env.timeout(self.m["agent"]["pollIntervalUs"])
            yield from self.until_answered(node, "getAssignment", state)

    # --- native mode ----------------------------------------------------------------------

    def native_api(self, op):
        """An API call from the operator's client near the centre (origin RTT); refused, it is retried later."""
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
            yield env.timeout(self.m["native"]["retryUs"])

    def cycle_slot(self, step):
        load = self.cycle_load.setdefault(step["name"], {})
        period = step["periodUs"]
        cycle = math.floor(self.env.now / period) + 1
        if step["perCycleLimit"] > 0:
            while load.get(cycle, 0) >= step["perCycleLimit"]:
                cycle += 1
        load[cycle] = load.get(cycle, 0) + 1
        return cycle * period

    def copy(self, node, step):
        """The centre copies the image onto the host (one stream). `copy`: a driver worker of the
        op's station is held for the set-up and while the bytes move; `none`: the host runs the
        set-up and the copy. A refused copy is retried later, a few times. True: copied."""
        env = self.env
        station = self.stations[step["station"]]
        attempts = 0

        def move():
            yield self.from_origin(node, self.m["imageBytes"], 1)

        while True:
            setup_us = draw_service(self.rng, step["service"])
            if step["worker"] == "none":
                yield env.timeout(setup_us)
                yield from move()
                return True
            copied = station.request(setup_us, hold=move)
            if copied is not None:
                yield copied
                return True
            attempts += 1
            if attempts >= self.m["native"]["maxCopyAttempts"]:
                return False
            yield env.timeout(self.m["native"]["retryUs"])

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
                if not (yield from self.copy(node, s)):
                    self.finished(False)
                    return
            elif k == "boot":
                yield env.timeout(self.boot_us())
        self.finished(True)

    def run(self):
        for node in range(self.nodes):
            self.env.process(self.agent(node) if self.plane["mode"] == "agent" else self.native(node))
        # running agents poll on: the run ends when the last node has finished (or at edgeplane's limit)
        self.env.run(until=self.all_done | self.env.timeout(self.m["maxVirtualUs"]))
        return self.nodes


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
            "failed": model.failed,
            "p50_s": quantile(ends, 0.5) / 1e6,
            "makespan_s": (ends[-1] if ends else 0) / 1e6,
            "cpu_s": time.process_time() - cpu0,
            "wall_s": time.perf_counter() - wall0,
            "recomputes": model.net.recomputes,
        }), flush=True)


if __name__ == "__main__":
    main()
