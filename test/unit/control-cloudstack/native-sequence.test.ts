// Native mode: the model's deploySequence equals what one fault-free deployment records, against
// the in-process emulator: the operator's client (deployVirtualMachine with hostid, then polling
// queryAsyncJobResult every CS_CLIENT_POLL_US as the model assumes) and the host's KVM agent (the
// template fetched onto its pool: direct download on the Edge zone, or the copy from secondary
// storage on the Core zone), in causal order: deploy, the agent's transfer, the poll.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudStackClient, CS_CLIENT_POLL_US, runEmulator, type RunningEmulator } from '../../../control-cloudstack/index.js';
import { planes } from '../../../planes/index.js';

const IMAGE = Buffer.alloc(128 * 1024, 5);
let dir = '';
let files: Server;
let url = '';
let stack: RunningEmulator;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ep-cs-native-'));
  files = createServer((_req, res) => res.writeHead(200, { 'content-length': IMAGE.length }).end(IMAGE));
  await new Promise<void>((r) => files.listen(0, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${(files.address() as AddressInfo).port}/t.qcow2`;
  stack = await runEmulator({ stateDir: dir, port: 0, coreHosts: 1, edgeHosts: 1, bootDelayMs: 10 });
}, 30_000);

afterAll(async () => {
  await stack?.stop();
  await new Promise<void>((r) => files.close(() => r()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('cloudstack native mode: model deploySequence = recorded calls', () => {
  for (const directDownload of [true, false]) {
    it(`${directDownload ? 'direct download (Edge zone)' : 'secondary storage (Core zone)'}`, async () => {
      const c = stack.credentials;
      const setup = new CloudStackClient({ url: c.apiUrl, apiKey: c.apiKey, secretKey: c.secretKey, firstPollMs: 20 });
      const zone = (await setup.list('listZones', 'zone')).find((z) => z.type === (directDownload ? 'Edge' : 'Core'))!;
      const host = c.hosts.find((h) => h.zoneid === zone.id)!;
      const offering = (await setup.list('listServiceOfferings', 'serviceoffering'))[0]!;
      const ostype = (await setup.list('listOsTypes', 'ostype'))[0]!;
      const md5 = createHash('md5').update(IMAGE).digest('hex');
      const [t] = (
        await setup.call('registerTemplate', {
          name: `seq-${directDownload}`,
          format: 'QCOW2',
          hypervisor: 'KVM',
          url,
          zoneid: String(zone.id),
          ostypeid: String(ostype.id),
          directdownload: directDownload,
          checksum: md5,
        })
      ).template as Record<string, unknown>[];
      for (let i = 0; i < 200 && !(await setup.list('listTemplates', 'template', { templatefilter: 'self', id: String(t!.id) }))[0]!.isready; i++) await new Promise((r) => setTimeout(r, 20));
      setup.close();

      const agent = stack.agents[c.hosts.indexOf(host)]!;
      const agentFrom = agent.recorder.records().length;
      const operator = new CloudStackClient({ url: c.apiUrl, apiKey: c.apiKey, secretKey: c.secretKey, firstPollMs: CS_CLIENT_POLL_US / 1000, maxPollMs: CS_CLIENT_POLL_US / 1000 });
      const { jobid } = await operator.submit('deployVirtualMachine', { zoneid: String(zone.id), serviceofferingid: String(offering.id), templateid: String(t!.id), hostid: host.id, name: `seq-${directDownload}` });
      const submitted = operator.recorder.records().length;
      const done = await operator.waitForJob(jobid, 'deployVirtualMachine');
      operator.close();
      expect((done.jobresult!.virtualmachine as Record<string, unknown>).state).toBe('Running');

      const ops = operator.recorder.records().map((r) => r.op);
      const transfers = agent.recorder
        .records()
        .slice(agentFrom)
        .map((r) => r.op);
      // the job was done at the first poll (the model's fault-free assumption), so the transfer happened between the two
      expect(done.polls).toBe(1);
      const recorded = [...ops.slice(0, submitted), ...transfers, ...ops.slice(submitted)];
      const model = planes.model('cloudstack', 'native', { placement: 'pinned', flags: { directDownload } });
      expect(recorded).toEqual(model.deploySequence({ chunks: 1 }));
    }, 30_000);
  }
});
