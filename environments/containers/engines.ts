// Docker Engine API endpoints (`--engine`): Docker itself, or Podman's compatible service
// (`podman system service unix:///path.sock`). Parsed into dockerode's connection options.
import { InputError } from '../../common/index.js';

export interface EngineEndpoint {
  /** as the user gave it */
  url: string;
  /** dockerode's options */
  connection: { socketPath: string } | { protocol: 'http' | 'https'; host: string; port: number };
  /** on this machine (a unix socket): its containers can join this machine's network namespaces */
  local: boolean;
}

/** `unix:///run/podman.sock`, `tcp://host:2375` (= http), `http://host:port`, `https://host:port`. */
export function parseEngine(url: string): EngineEndpoint {
  if (url.startsWith('unix://')) {
    const socketPath = url.slice('unix://'.length);
    if (!socketPath.startsWith('/')) throw new InputError(`--engine ${url}: a unix socket needs an absolute path (unix:///path/to/engine.sock)`);
    return { url, connection: { socketPath }, local: true };
  }
  let u: URL;
  try {
    u = new URL(url.replace(/^tcp:\/\//, 'http://'));
  } catch {
    throw new InputError(`--engine ${url}: not an engine address (unix:///path.sock, tcp://host:port, http(s)://host:port)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InputError(`--engine ${url}: unix://, tcp://, http:// or https:// only`);
  const protocol = u.protocol === 'https:' ? 'https' : 'http';
  const port = u.port ? Number(u.port) : protocol === 'https' ? 2376 : 2375;
  return { url, connection: { protocol, host: u.hostname, port }, local: false };
}
