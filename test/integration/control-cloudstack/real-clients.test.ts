// The real CloudStack clients, unchanged, against the emulator running as `edgeplane up
// cloudstack` started it: exoscale/cs (python3-cs) and libcloud's CloudStack driver
// (python3-libcloud), installed by scripts/install-cloudstack-clients.sh into Debian's own
// /usr/bin/python3 (not a pyenv or venv python on PATH). They FAIL when missing.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireEmulator } from './stack.js';

const run = promisify(execFile);
const IMAGE = Buffer.alloc(64 * 1024, 3);
let templatePort = 0;
let files: Server;
let emulator: Awaited<ReturnType<typeof acquireEmulator>>;

beforeAll(async () => {
  files = createServer((req, res) => {
    const body = req.url === '/corrupt.qcow2' ? Buffer.concat([IMAGE.subarray(1), Buffer.from([9])]) : IMAGE;
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length }).end(body);
  });
  await new Promise<void>((r) => files.listen(0, '127.0.0.1', () => r()));
  templatePort = (files.address() as AddressInfo).port;
  emulator = await acquireEmulator();
}, 60_000);

afterAll(async () => {
  emulator?.release();
  await new Promise<void>((r) => files.close(() => r()));
});

async function python(script: string): Promise<Record<string, unknown>> {
  const c = emulator.credentials;
  const env = {
    ...process.env,
    CS_ENDPOINT: c.apiUrl,
    CS_KEY: c.apiKey,
    CS_SECRET: c.secretKey,
    TEMPLATE_URL: `http://127.0.0.1:${templatePort}/good-${script}.qcow2`,
    CORRUPT_URL: `http://127.0.0.1:${templatePort}/corrupt.qcow2`,
    TEMPLATE_MD5: createHash('md5').update(IMAGE).digest('hex'),
  };
  const { stdout } = await run('/usr/bin/python3', [resolve(import.meta.dirname, script)], { env, timeout: 90_000 });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

describe('real CloudStack clients against the emulator', () => {
  it('exoscale/cs: listZones, registerTemplate, deployVirtualMachine with job polling, listVirtualMachines, error answers', async () => {
    const out = await python('cs_client.py');
    expect(out.zones).toEqual(['Core', 'Edge']);
    expect(out.template).toEqual({ isready: true, status: 'Bypassed Secondary Storage' });
    expect(out.deployed).toEqual({ state: 'Running', hostid: true });
    expect(out.listed).toEqual(['Running']);
    expect(out.missingParam).toEqual({ http: 431, errorcode: 431 });
    expect(out.unknown).toEqual({ http: 432, errorcode: 432, errortext: 'The given command does not exist or it is not available for user' });
    expect(out.jobFailure).toMatchObject({ message: 'Job failure', errorcode: 530 });
    expect(String((out.jobFailure as { errortext: string }).errortext)).toMatch(/Checksum validation failed/);
    expect(out.badSignature).toEqual({ http: 401, errorcode: 401 });
  }, 120_000);

  it("libcloud's CloudStack driver: list_locations, list_sizes, registerTemplate, list_images, create_node with job polling, list_nodes, errors", async () => {
    const out = await python('libcloud_client.py');
    expect(out.locations).toEqual(['core-1', 'edge-1']);
    expect((out.sizes as string[]).length).toBeGreaterThan(0);
    expect(out.registered).toBe('Bypassed Secondary Storage');
    expect(out.images).toBe(1);
    expect(out.created).toMatchObject({ name: 'lc-vm', state: 'running' });
    expect(out.listed).toEqual(['running']);
    expect(out.error).toMatchObject({ type: 'ProviderError', http: 431 });
  }, 120_000);
});
