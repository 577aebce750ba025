// A TCP port the kernel has just handed out as free on 127.0.0.1, for a test that must pass a port
// number to a process it starts. Fixed numbers in the ephemeral range (32768-60999 on Linux) collide
// with other tests' outgoing connections: CI once failed on EADDRINUSE this way.
import { createServer, type AddressInfo } from 'node:net';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
