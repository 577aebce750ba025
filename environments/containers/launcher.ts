// Containers as nodes (`run --env emulate --runtime containers --engine URL [--engine URL ...]`):
// every agent process (or agent host) of the emulation runs in a container created through the
// Docker Engine API (dockerode; Docker, or Podman's compatible service), inside the node's emulated
// network namespace (`NetworkMode: ns:/run/netns/<ns>`), so its links are shaped as a process's
// would be. The image is a root filesystem built here (image.ts); the edgeplane package is
// bind-mounted read-only and the emulation's work folder (configurations, state directories,
// events) read-write at the same paths, so events are collected as for processes. Agents are
// spread round-robin over the engines. Every container is labelled with the owning process and
// removed at the end; a run killed before that leaves them to the next start (removeStale).
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { EnvironmentError, InputError, NotSupportedError, packageRoot } from '../../common/index.js';
import { processCpuMs, processMemory, type AgentLauncher, type AgentProcess, type ProcessMemory } from '../emulate/index.js';
import { parseEngine, type EngineEndpoint } from './engines.js';
import { buildRootfs, ensureImage } from './image.js';

/** Container names start with this; namespaces of the container runtime would too. */
export const CONTAINER_PREFIX = 'epct-';
const OWNER_LABEL = 'io.edgeplane.owner';

interface Engine {
  endpoint: EngineEndpoint;
  docker: Docker;
  image: string;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The frames of a non-TTY container log (8-byte headers: stream, 0, 0, 0, length) as text. */
export function demuxLogs(buf: Buffer): string {
  const out: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const len = buf.readUInt32BE(i + 4);
    out.push(buf.subarray(i + 8, i + 8 + len));
    i += 8 + len;
  }
  return Buffer.concat(out).toString('utf8');
}

/** Removes containers edgeplane made whose owning process is gone (a run killed before it cleaned up). */
export async function removeStale(docker: Docker): Promise<number> {
  const list = await docker.listContainers({ all: true, filters: { label: [OWNER_LABEL] } });
  let removed = 0;
  for (const c of list) {
    const owner = Number(c.Labels[OWNER_LABEL]);
    if (owner === process.pid || (Number.isInteger(owner) && processAlive(owner))) continue;
    await docker
      .getContainer(c.Id)
      .remove({ force: true })
      .then(() => removed++)
      .catch(() => {});
  }
  return removed;
}

class ContainerProcess implements AgentProcess {
  running = true;
  stderr = '';
  readonly exited: Promise<number | null>;
  private pid = -1;
  private readonly created: Promise<Docker.Container>;

  constructor(
    readonly what: string,
    engine: Engine,
    spec: Docker.ContainerCreateOptions,
    private readonly onCreated: (c: Docker.Container) => void,
  ) {
    this.created = (async () => {
      const c = await engine.docker.createContainer(spec);
      this.onCreated(c);
      await c.start();
      this.pid = (await c.inspect()).State.Pid;
      return c;
    })();
    this.exited = this.created
      .then(async (c) => {
        const r = (await c.wait()) as { StatusCode: number };
        this.stderr = demuxLogs((await c.logs({ stdout: false, stderr: true, follow: false })) as unknown as Buffer).slice(-16_384);
        return r.StatusCode;
      })
      .catch((err: Error) => {
        this.stderr += `container: ${err.message}\n`;
        return null;
      })
      .finally(() => {
        this.running = false;
      });
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    void this.created.then((c) => c.kill({ signal })).catch(() => {});
  }

  async stop(graceMs = 10_000): Promise<number | null> {
    if (this.running) await this.created.then((c) => c.stop({ t: Math.max(1, Math.ceil(graceMs / 1000)) })).catch(() => {});
    return this.exited;
  }

  memory(): ProcessMemory | null {
    return this.pid > 0 ? processMemory(this.pid) : null;
  }

  cpuMs(): number | null {
    return this.pid > 0 ? processCpuMs(this.pid) : null;
  }
}

/** The directories a container needs at their host paths: the package (read-only, its node_modules too if linked elsewhere) and the work folder. */
function binds(workDir: string, cliPath: string): string[] {
  const root = packageRoot();
  const ro = new Set([root, realpathSync(join(root, 'node_modules'))]);
  if (!realpathSync(cliPath).startsWith(`${root}/`)) ro.add(join(realpathSync(cliPath), '..', '..', '..'));
  return [...[...ro].map((d) => `${d}:${d}:ro`), `${workDir}:${workDir}`];
}

export function containerLauncher(o: { engines: readonly string[] }): AgentLauncher {
  if (o.engines.length === 0) throw new InputError('--runtime containers needs at least one --engine');
  const endpoints = o.engines.map(parseEngine);
  const remote = endpoints.find((e) => !e.local);
  if (remote) {
    throw new NotSupportedError(
      `--engine ${remote.url}: --env emulate runs each container inside its node's emulated network namespace on this machine; an engine on another host cannot join it (unix:// sockets of engines on this machine only)`,
    );
  }
  const engines: Engine[] = [];
  const made: { engine: Engine; container: Docker.Container }[] = [];
  let next = 0;
  let seq = 0;
  let binding: string[] = [];
  return {
    describe: `containers (${endpoints.map((e) => e.url).join(', ')})`,
    async prepare({ workDir, cliPath, logger }) {
      binding = binds(workDir, cliPath);
      let rootfs: Awaited<ReturnType<typeof buildRootfs>> | null = null;
      try {
        // loaded here, not at start-up: dockerode (and the gRPC stack it pulls in) costs every other command a fifth of a second
        const { default: Dockerode } = await import('dockerode');
        for (const endpoint of endpoints) {
          const docker = new Dockerode(endpoint.connection);
          try {
            await docker.ping();
          } catch (err) {
            throw new EnvironmentError(`engine ${endpoint.url} does not answer: ${(err as Error).message} (for Podman: podman system service --time=0 ${endpoint.url})`);
          }
          const stale = await removeStale(docker);
          if (stale > 0) logger.info({ engine: endpoint.url, removed: stale }, 'removed containers left by an earlier run');
          rootfs ??= await buildRootfs();
          const built = rootfs;
          engines.push({ endpoint, docker, image: await ensureImage(docker, built.key, async () => built.tar, endpoint.url) });
        }
      } finally {
        (rootfs as Awaited<ReturnType<typeof buildRootfs>> | null)?.remove();
      }
    },
    start({ ns, args, what, nodeFlags }) {
      if (engines.length === 0) throw new EnvironmentError('the container launcher was not prepared');
      const engine = engines[next++ % engines.length]!;
      const spec: Docker.ContainerCreateOptions = {
        name: `${CONTAINER_PREFIX}${process.pid}-${seq++}`,
        Image: engine.image,
        Cmd: ['/usr/bin/node', ...nodeFlags, ...args],
        Labels: { [OWNER_LABEL]: String(process.pid), 'io.edgeplane.what': what },
        HostConfig: { NetworkMode: `ns:/run/netns/${ns}`, Binds: binding },
      };
      return new ContainerProcess(`${what} (container on ${engine.endpoint.url})`, engine, spec, (container) => made.push({ engine, container }));
    },
    async close() {
      await Promise.all(made.map(({ container }) => container.remove({ force: true }).catch(() => {})));
      made.length = 0;
    },
  };
}
