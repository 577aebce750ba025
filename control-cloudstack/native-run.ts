// `run --env real` with CloudStack in native mode: on the emulator of the state folder, each
// scenario node is one KVM host of the Edge zone (hosts sorted by name; the emulator's built-in
// agents, or — when a host is Disconnected, as after `up cloudstack --external-agents` — a KVM
// agent started here with the host's token, sim hypervisor). Per repeat: a fresh direct-download
// template (served by an HTTP server of this run, {SHA-256} checksum), then for every node at once
// deployVirtualMachine(hostid) (pinned) or without hostid (scheduler: the allocator picks) and
// queryAsyncJobResult polled with backoff until the job ends. The host's agent downloads the
// template itself, checks it and boots it. Every call, every VM state change (an observer polls
// listVirtualMachines; its calls are the measurement, not the deployment's) and every template
// download go to native-r<N>.ndjson; the repeat's VMs are expunged and its template deleted after it.
//
// In an emulated fleet (`run --env emulate`, `nodeProcesses`): a fresh emulator of this run (one
// Edge host per node, external agents) listens on the fleet's origin host, beside the template
// server, and each host's KVM agent is a process in its node's network (kvm-agent/main.ts): the
// agent's connection and its template download cross the node's access link, the site's LAN and
// WAN and the origin uplink, as an Edge zone's hosts reach their management server.
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NativeRealDeployment, NativeRealRequest, NativeRealRun, NodeSideProcess } from '../adapters/index.js';
import { CallRecorder } from '../adapters/transport/index.js';
import { createHypervisor } from '../agent/index.js';
import { EnvironmentError } from '../common/index.js';
import { CloudStackApiError, CloudStackClient, type Answer } from './client/api.js';
import { KvmAgent } from './kvm-agent/agent.js';
import { DEFAULT_PORT, downEmulator, readCredentials, upEmulator } from './server/stack.js';

/** the emulator of an emulated fleet (beside any `up cloudstack` on the default port) */
const EMULATED_PORT = DEFAULT_PORT + 10;
const KVM_AGENT_MAIN = fileURLToPath(new URL('./kvm-agent/main.js', import.meta.url));

export const FIRST_POLL_MS = 100;
export const MAX_POLL_MS = 2_000;
export const OBSERVE_MS = 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A deterministic image of `bytes` (AES-CTR keystream of a fixed key) and its SHA-256. */
async function writeImage(path: string, bytes: number): Promise<string> {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 0x65), Buffer.alloc(16, 0));
  const hash = createHash('sha256');
  const fh = await open(path, 'w');
  try {
    const block = Buffer.alloc(1 << 20);
    for (let at = 0; at < bytes; at += block.length) {
      const piece = cipher.update(block.subarray(0, Math.min(block.length, bytes - at)));
      hash.update(piece);
      await fh.write(piece, 0, piece.length, at);
    }
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

interface Served {
  path: string;
  startMs: number;
  endMs: number;
  bytes: number;
  status: number;
}

/** The template's HTTP origin (CloudStack's "template-http" service): GET /<tag>/r<N>/image.raw. */
async function templateServer(file: string, size: number, host: string, onServed: (s: Served) => void): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const startMs = performance.now();
    if (req.method !== 'GET' || !/^\/[a-z0-9-]+\/r\d+\/image\.raw$/.test(req.url ?? '')) {
      res.writeHead(404).end();
      onServed({ path: req.url ?? '', startMs, endMs: performance.now(), bytes: 0, status: 404 });
      return;
    }
    let bytes = 0;
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
    const s = createReadStream(file);
    s.on('data', (c) => {
      bytes += c.length;
    });
    res.on('close', () => onServed({ path: req.url ?? '', startMs, endMs: performance.now(), bytes, status: 200 }));
    s.pipe(res);
  });
  await new Promise<void>((r, j) => {
    server.once('error', j);
    server.listen(0, host, () => r());
  });
  return { server, url: `http://${host}:${(server.address() as AddressInfo).port}` };
}

export async function openCloudStackNativeRun(o: NativeRealRequest): Promise<NativeRealRun> {
  const emulated = o.nodeProcesses ?? null;
  // emulated: this run's own emulator, one Edge host per node, no built-in agents
  const stateDir = emulated ? join(o.workDir, 'cloudstack') : o.stateDir;
  if (emulated) {
    rmSync(stateDir, { recursive: true, force: true });
    o.say(`starting a CloudStack emulator with ${o.nodes.length} Edge host(s) on the fleet's origin host ${emulated.originHost}`);
    await upEmulator({ stateDir, host: emulated.originHost, port: EMULATED_PORT, coreHosts: 0, edgeHosts: o.nodes.length, externalAgents: true });
  }
  const stopEmulator = async () => {
    if (emulated) await downEmulator(stateDir).catch(() => undefined);
  };
  let credentials: ReturnType<typeof readCredentials>;
  try {
    credentials = readCredentials(stateDir);
  } catch (err) {
    await stopEmulator();
    throw err;
  }
  const admin = new CloudStackClient({ url: credentials.apiUrl, apiKey: credentials.apiKey, secretKey: credentials.secretKey, firstPollMs: 50, maxPollMs: 500, timeoutMs: 30_000 });
  const agents: KvmAgent[] = [];
  const nodeAgents: NodeSideProcess[] = [];
  let files: Server | null = null;
  const cleanup = async () => {
    admin.close();
    for (const a of agents) a.halt();
    await Promise.all([...agents.map((a) => a.stop()), ...nodeAgents.map((p) => p.stop(5_000))]);
    if (files) await new Promise<void>((r) => files!.close(() => r()));
    await stopEmulator();
  };
  try {
    try {
      await admin.call('listCapabilities');
    } catch (err) {
      throw new EnvironmentError(`no CloudStack emulator answering at ${credentials.apiUrl}: ${(err as Error).message}`, [`edgeplane up cloudstack --state ${o.stateDir}`]);
    }
    const zone = (await admin.list('listZones', 'zone')).find((z) => z.type === 'Edge');
    if (!zone) throw new EnvironmentError(`${credentials.url}: no Edge zone`);
    const zoneid = String(zone.id);
    let hosts = (await admin.list('listHosts', 'host', { type: 'Routing', zoneid })).sort((a, b) => (String(a.name) < String(b.name) ? -1 : 1));
    if (hosts.length < o.nodes.length)
      throw new EnvironmentError(`the Edge zone of ${credentials.url} has ${hosts.length} KVM host(s), the run needs one per node (${o.nodes.length})`, [
        `a fresh emulator with enough hosts: edgeplane down cloudstack --state ${stateDir}; then up again with --edge-hosts ${o.nodes.length} and a new --state`,
      ]);
    hosts = hosts.slice(0, o.nodes.length);
    // hosts without a connected agent get one here (the emulator runs with --external-agents)
    const down = hosts.filter((h) => h.state !== 'Up');
    for (const h of down) {
      const token = credentials.hosts.find((c) => c.id === h.id)?.token;
      if (!token) throw new EnvironmentError(`host ${String(h.name)} is ${String(h.state)} and ${stateDir}/credentials.json has no agent token for it`);
      const workDir = join(o.workDir, 'hosts', String(h.name));
      if (emulated) {
        // the host's agent in its node's network, with its own primary pool and token file
        const node = o.nodes[hosts.indexOf(h)]!;
        mkdirSync(workDir, { recursive: true });
        const tokenFile = join(workDir, 'agent-token');
        writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
        const args = [KVM_AGENT_MAIN, '--management', credentials.url, '--host-id', String(h.id), '--token-file', tokenFile, '--primary', join(workDir, 'primary'), '--work', workDir];
        const bootFile = emulated.bootDelayFile?.(node.id);
        args.push(...(bootFile ? ['--boot-ms-file', bootFile] : ['--boot-ms', '50']), '--log', join(workDir, 'agent.log'));
        nodeAgents.push(emulated.start(node.id, args, `KVM agent ${String(h.name)} (${node.id})`));
        continue;
      }
      const agent = new KvmAgent({
        managementUrl: credentials.url,
        hostid: String(h.id),
        token,
        primaryDir: join(o.workDir, 'primary'),
        hypervisor: createHypervisor('sim', { workDir, bootDelayMs: 50, log: o.logger }),
        logger: o.logger,
      });
      await agent.start();
      agents.push(agent);
    }
    if (down.length) {
      o.say(`started ${down.length} KVM agent(s) for the Disconnected host(s) ${down.length > 6 ? `${down.length} hosts` : down.map((h) => String(h.name)).join(', ')}${emulated ? ", each in its node's network" : ''}`);
      const waitS = emulated ? 60 + down.length : 30;
      await Promise.all(nodeAgents.map((p) => p.waitFor(/connected \S+/, waitS * 1000)));
      const deadline = Date.now() + waitS * 1000;
      while ((await admin.list('listHosts', 'host', { type: 'Routing', zoneid })).filter((h) => hosts.some((x) => x.id === h.id) && h.state === 'Up').length < hosts.length) {
        if (Date.now() > deadline) throw new EnvironmentError(`the KVM agents started for this run did not bring their hosts Up within ${waitS} s`);
        await sleep(200);
      }
    }
    const offering = (await admin.list('listServiceOfferings', 'serviceoffering')).sort((a, b) => Number(a.cpunumber) - Number(b.cpunumber) || Number(a.memory) - Number(b.memory))[0];
    const ostypes = await admin.list('listOsTypes', 'ostype');
    const ostype = ostypes.find((t) => /Other Linux/.test(String(t.description))) ?? ostypes[0];
    if (!offering || !ostype) throw new EnvironmentError(`${credentials.url}: no service offering or OS type`);

    const imageFile = join(o.workDir, 'template.raw');
    const sha256 = await writeImage(imageFile, o.imageBytes);
    let served: Served[] = [];
    const srv = await templateServer(imageFile, o.imageBytes, emulated?.originHost ?? '127.0.0.1', (s) => served.push(s));
    files = srv.server;
    const tag = `ep${Date.now().toString(36)}`;
    const hostOf = new Map(o.nodes.map((n, i) => [n.id, String(hosts[i]!.id)]));
    const runHosts = new Set(hostOf.values());
    o.logger.info({ tag, zoneid, hosts: Object.fromEntries(hostOf), template: srv.url }, 'cloudstack native run prepared');
    o.say(`${o.nodes.length} node(s) on the Edge hosts ${hosts.map((h) => String(h.name)).join(', ')}; template ${o.imageBytes} bytes from ${srv.url}`);

    return {
      async repeat(r) {
        served = [];
        const log: string[] = [];
        const [t] = (
          await admin.call('registerTemplate', {
            name: `${tag}-r${r}`,
            displaytext: `edgeplane native run ${tag} repeat ${r}`,
            format: 'RAW',
            hypervisor: 'KVM',
            url: `${srv.url}/${tag}/r${r}/image.raw`,
            zoneid,
            ostypeid: String(ostype.id),
            directdownload: true,
            checksum: `{SHA-256}${sha256}`,
          })
        ).template as Answer[];
        const templateid = String(t!.id);
        // the observer: every VM state change of this repeat's VMs, as listVirtualMachines shows it
        const states = new Map<string, { state: string; atMs: number }[]>();
        const t0 = performance.now();
        let observing = true;
        const observeOnce = async (): Promise<void> => {
          try {
            for (const vm of await admin.list('listVirtualMachines', 'virtualmachine', { listall: true, templateid })) {
              const seen = states.get(String(vm.id)) ?? [];
              if (seen.at(-1)?.state !== vm.state) {
                seen.push({ state: String(vm.state), atMs: performance.now() - t0 });
                states.set(String(vm.id), seen);
                log.push(JSON.stringify({ type: 'state', vm: vm.id, name: vm.name, state: vm.state, host: vm.hostname ?? null, ms: Math.round(performance.now() - t0) }));
              }
            }
          } catch (err) {
            o.logger.warn({ err: (err as Error).message }, 'VM state observer: listVirtualMachines failed');
          }
        };
        const observer = (async () => {
          while (observing) {
            await observeOnce();
            await sleep(OBSERVE_MS);
          }
        })();
        const results = await Promise.all(
          o.nodes.map(async (n, i) => {
            const recorder = new CallRecorder();
            const c = new CloudStackClient({
              url: credentials.apiUrl,
              apiKey: credentials.apiKey,
              secretKey: credentials.secretKey,
              recorder,
              firstPollMs: FIRST_POLL_MS,
              maxPollMs: MAX_POLL_MS,
              jobTimeoutMs: 600_000,
              timeoutMs: 60_000,
            });
            const startMs = performance.now() - t0;
            let vmId: string | null = null;
            let placedHost: string | null = null;
            let outcome: NativeRealDeployment['outcome'] = 'failed';
            let reason: string | undefined;
            let endMs: number | null = null;
            try {
              const submitted = await c.submit('deployVirtualMachine', {
                zoneid,
                serviceofferingid: String(offering.id),
                templateid,
                name: `${tag}-r${r}-n${i}`,
                ...(o.placement === 'pinned' ? { hostid: hostOf.get(n.id)! } : {}),
              });
              vmId = submitted.id ?? null;
              const done = await c.waitForJob(submitted.jobid, 'deployVirtualMachine');
              const vm = done.jobresult?.virtualmachine as Answer | undefined;
              placedHost = vm?.hostid === undefined ? null : String(vm.hostid);
              vmId = vm?.id === undefined ? vmId : String(vm.id);
              endMs = performance.now() - t0;
              if (vm?.state === 'Running') outcome = 'running';
              else reason = `the job ended with the VM ${String(vm?.state ?? 'missing')}`;
            } catch (err) {
              endMs = performance.now() - t0;
              reason = err instanceof CloudStackApiError ? `CloudStack ${err.errorcode}: ${err.errortext}` : (err as Error).message;
            } finally {
              c.close();
            }
            return { node: n.id, i, vmId, placedHost, outcome, reason, startMs, endMs, calls: recorder.records() };
          }),
        );
        observing = false;
        await observer;
        // one last look: a VM that reached its final state after the observer's last poll still gets its line
        await observeOnce();
        // the template is fetched once per host pool: VMs the allocator put on one host share its download (the first to run is charged)
        const charged = new Set<string>();
        const payer = new Set<number>();
        for (const d of [...results].filter((x) => x.outcome === 'running' && x.placedHost !== null).sort((a, b) => (a.endMs ?? 0) - (b.endMs ?? 0))) {
          if (charged.has(d.placedHost!)) continue;
          charged.add(d.placedHost!);
          payer.add(d.i);
        }
        const deployments: NativeRealDeployment[] = [];
        for (const d of results) {
          for (const c of d.calls) log.push(JSON.stringify({ type: 'call', node: d.node, op: c.op, status: c.status, ms: Math.round(c.ms * 1000) / 1000, bytesOut: c.bytesOut, bytesIn: c.bytesIn }));
          const seen = d.vmId ? (states.get(d.vmId) ?? []) : [];
          const starting = seen.find((s) => s.state === 'Starting')?.atMs;
          const phases: Record<string, number> = {};
          if (starting !== undefined) phases.assignment = Math.max(0, starting - d.startMs) / 1000;
          if (starting !== undefined && d.outcome === 'running' && d.endMs !== null) phases.boot = Math.max(0, d.endMs - starting) / 1000;
          const intended = d.outcome === 'running' && d.placedHost !== null && (o.placement === 'pinned' ? d.placedHost === hostOf.get(d.node) : runHosts.has(d.placedHost));
          log.push(JSON.stringify({ type: 'done', node: d.node, vm: d.vmId, outcome: d.outcome, intendedHost: o.placement === 'pinned' ? hostOf.get(d.node) : null, placedHost: d.placedHost, reason: d.reason }));
          deployments.push({
            node: d.node,
            startS: d.startMs / 1000,
            endS: d.endMs === null ? null : d.endMs / 1000,
            outcome: d.outcome,
            ...(d.reason ? { reason: d.reason } : {}),
            phases,
            calls: d.calls.length,
            // the host's one GET of the template (a fresh template per repeat: no cache from an earlier repeat)
            dataCalls: payer.has(d.i) ? 1 : 0,
            controlBytes: d.calls.reduce((s, c) => s + c.bytesIn + c.bytesOut, 0),
            dataBytesIn: payer.has(d.i) ? o.imageBytes : 0,
            intended,
          });
        }
        for (const s of served) log.push(JSON.stringify({ type: 'download', path: s.path, status: s.status, bytes: s.bytes, startMs: Math.round(s.startMs - t0), endMs: Math.round(s.endMs - t0) }));
        const servedBytes = served.reduce((s, x) => s + x.bytes, 0);
        if (servedBytes !== charged.size * o.imageBytes) o.logger.warn({ servedBytes, hosts: charged.size, imageBytes: o.imageBytes }, 'template bytes served differ from one image per host that ran a VM');
        writeFileSync(join(o.workDir, `native-r${r}.ndjson`), `${log.join('\n')}\n`);
        // free the hosts and the names for the next repeat (not part of the deployments' calls)
        await Promise.all(results.filter((d) => d.vmId !== null).map((d) => admin.run('destroyVirtualMachine', { id: d.vmId!, expunge: true }).catch(() => undefined)));
        await admin.call('deleteTemplate', { id: templateid }).catch(() => undefined);
        return deployments;
      },
      assumptions: [
        {
          name: 'image bytes moved',
          value: o.imageBytes,
          unit: 'B',
          source: `per node: the host KVM agent downloads the direct-download template itself over HTTP (${emulated ? "from the origin host, across the fleet's shaped links" : 'loopback'}) and checks its {SHA-256} checksum; a fresh template each repeat, so no primary-pool cache hit`,
        },
        {
          name: 'placement',
          value: o.placement === 'pinned' ? 'deployVirtualMachine(hostid) per node (DeployVMCmdByAdmin)' : 'deployVirtualMachine without hostid: the allocator picks a suitable Edge host at random',
          source: 'CloudStack API (the emulator in the state folder)',
        },
        { name: 'job polling', value: `${FIRST_POLL_MS} ms, x1.5 up to ${MAX_POLL_MS} ms`, source: 'queryAsyncJobResult until jobstatus leaves 0' },
        {
          name: 'VM state observation',
          value: OBSERVE_MS,
          unit: 'ms',
          source: "listVirtualMachines every 100 ms (the observer's calls are not counted in the deployments); assignment = deploy to Starting, boot = Starting to the job's end (download, checksum, VM boot)",
        },
        {
          name: 'hypervisor',
          value: emulated ? "sim, the scenario's boot times (one KVM agent process per node)" : agents.length ? 'sim (agents started by this run)' : "the emulator's built-in KVM agents",
          source: 'edgeplane KVM agent (control-cloudstack/kvm-agent)',
        },
        ...(emulated
          ? [
              {
                name: 'management server',
                value: `${credentials.url} (this run's emulator, ${o.nodes.length} Edge hosts)`,
                source: 'the agents connect to it and long poll across their node links, as Edge-zone hosts do',
              },
            ]
          : []),
        { name: 'calls and state changes', value: join(o.workDir, 'native-r<N>.ndjson'), source: 'every API call (op, status, ms, bytes), VM state change and template download of each repeat' },
      ],
      close: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
