// The inventory as the real environment's agent hosts: every scenario node runs its agent on one
// inventory node (in order). Prepared once per plane run (agent copied, tunnels up), an agent per
// repeat, and everything removed in close(), on Ctrl-C / SIGTERM too.
import { join } from 'node:path';
import { EnvironmentError, InputError } from '../../common/index.js';
import type { AgentHosts, AgentHostsRun } from '../real.js';
import { agentBundle } from './bundle.js';
import type { Inventory } from './inventory.js';
import { loopbackPorts, type RemoteAgent, SshHost, viaTunnel } from './remote.js';
import { newRunTag } from './stale.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `cleanup` once on SIGINT/SIGTERM (then exits 130/143); returns the un-registration. */
function guard(cleanup: () => Promise<void>): () => void {
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`edgeplane: ${sig}: stopping the agents on the SSH nodes and removing what was copied\n`);
    const hard = setTimeout(() => process.exit(sig === 'SIGINT' ? 130 : 143), 30_000);
    void cleanup().finally(() => {
      clearTimeout(hard);
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

export function sshHosts(inventory: Inventory): AgentHosts {
  return {
    kind: 'ssh',
    maxNodes: inventory.nodes.length,
    describe: `${inventory.nodes.length} SSH node(s) of the inventory`,
    async open(o): Promise<AgentHostsRun> {
      if (o.nodes.length > inventory.nodes.length) throw new InputError(`${o.nodes.length} nodes to run, the inventory has ${inventory.nodes.length}`);
      const nodes = inventory.nodes.slice(0, o.nodes.length);
      const bundle = await agentBundle();
      o.log.info({ bundle: bundle.path, bytes: bundle.bytes, built: bundle.built }, 'agent bundle');
      const tag = newRunTag();
      const hosts: SshHost[] = [];
      let closing: Promise<void> | null = null;
      const live = new Set<RemoteAgent>();
      const starting = new Set<Promise<unknown>>();
      const closeAll = () => {
        closing ??= (async () => {
          // agents being started now are stopped as soon as they are (start() sees `closing`)
          await Promise.race([Promise.allSettled([...starting]), sleep(15_000)]);
          await Promise.all([...live].map((a) => a.stop(10_000).catch(() => {})));
          await Promise.all(hosts.map((h) => h.remove().catch(() => {})));
        })();
        return closing;
      };
      const release = guard(closeAll);
      o.say(`copying the agent (${(bundle.bytes / 2 ** 20).toFixed(1)} MiB bundle) to ${nodes.length} SSH node(s)`);
      const prepared = await Promise.allSettled(nodes.map((node) => SshHost.prepare(node, { inventory, tag, bundle: bundle.path, log: o.log })));
      for (const p of prepared) if (p.status === 'fulfilled') hosts.push(p.value);
      const failed = prepared.flatMap((p) => (p.status === 'rejected' ? [p.reason as Error] : []));
      const tunnelled = inventory.plane.access === 'tunnel';
      let ports: number[] = [];
      const failing = async (err: unknown): Promise<never> => {
        await closeAll();
        release();
        throw err;
      };
      if (failed.length > 0) {
        const detail = failed.map((e) => e.message);
        await failing(failed[0] instanceof EnvironmentError || failed[0] instanceof InputError ? Object.assign(failed[0], { details: detail }) : new EnvironmentError(`SSH node: ${failed[0]!.message}`, detail));
      }
      o.log.info({ nodes: hosts.map((h) => h.node.name), tag }, 'ssh nodes connected, agent copied');
      return {
        async prepare(p) {
          try {
            ports = tunnelled ? [...new Set([...p.sections.flatMap(loopbackPorts), ...inventory.plane.ports])] : [];
            await Promise.all(
              hosts.map(async (h) => {
                await h.copyTrust(p.trustFile);
                await h.tunnel(ports);
              }),
            );
            o.log.info({ ports }, 'ssh nodes ready');
          } catch (err) {
            await failing(err);
          }
        },
        async start(repeat, configs, localDir) {
          const agents = await Promise.all(
            configs.map(async (c, i) => {
              if (closing) throw new EnvironmentError('the SSH nodes are being cleaned up');
              const h = hosts[i]!;
              const config = tunnelled ? { ...c, plane: viaTunnel(c.plane) } : c;
              const pending = h.start(repeat, config, join(localDir, c.node as string));
              starting.add(pending);
              const a = await pending.finally(() => starting.delete(pending));
              live.add(a);
              void a.exited.then(() => live.delete(a));
              // an interrupt while this agent was starting: the cleanup has begun without it
              if (closing) await a.stop(5_000);
              return a;
            }),
          );
          if (closing) throw new EnvironmentError('interrupted while the agents started');
          return agents;
        },
        machines: () => hosts.map((h) => ({ name: h.node.name, host: h.node.host, port: h.node.port, ...(h.node.site ? { site: h.node.site } : {}), ...h.machine, hostKey: h.conn.hostKeyFingerprint })),
        assumptions: () => [
          { name: 'nodes', value: hosts.map((h) => `${h.node.name}=${h.node.user}@${h.node.host}:${h.node.port}`).join(', '), source: 'the inventory (one agent per SSH node, the scenario nodes in order)' },
          {
            name: 'plane access',
            value: tunnelled ? `SSH reverse tunnels (127.0.0.1:${ports.join(',') || '-'} on each node)` : 'direct',
            source: tunnelled ? "the plane's traffic crosses each node's SSH connection (encrypted; its bandwidth is the connection's)" : "the plane's URLs as it gives them",
          },
          { name: 'agent', value: `bundle ${bundle.hash} (${bundle.bytes} B)`, source: 'cli/remote-agent.js bundled by esbuild, copied over SFTP' },
        ],
        async close() {
          await closeAll();
          release();
        },
      };
    },
  };
}
