// A loopback HTTP server that keeps track of its connections, so that stopping it drops every
// open (keep-alive) connection at once: what a client sees when the service dies.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface TrackedServer {
  readonly server: Server;
  /** the bound port (the one asked for, or the kernel's pick for 0) */
  readonly port: number;
  /** stops listening, destroys every open connection and resolves once the server is closed */
  close(): Promise<void>;
}

export async function listenTracked(handler: (req: IncomingMessage, res: ServerResponse) => void, o: { port: number; host?: string; keepAliveMs?: number }): Promise<TrackedServer> {
  const server = createServer(handler);
  server.keepAliveTimeout = o.keepAliveMs ?? 30_000;
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? '127.0.0.1', () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
