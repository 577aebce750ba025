// `edgeplane calibrate cloudstack`: the per-call service time of the management-server API ops
// the model uses, measured on the running EMULATOR through the real client (every call signed,
// recorded by the instrumented transport). These are emulator figures: a Node process with SQLite,
// not a Java management server with MySQL; the calibration file and its source say so, and the
// model's defaults keep their own (assumed / published) sources.
import { randomUUID } from 'node:crypto';
import { summarizeCalls, type Calibration } from '../adapters/index.js';
import { EnvironmentError, type Logger } from '../common/index.js';
import { CloudStackClient } from './client/api.js';
import { readCredentials, readRunning } from './server/stack.js';

export const CALIBRATION_LABEL = "EMULATOR figures: edgeplane's CloudStack management-server emulator (Node + SQLite via sql.js), not Apache CloudStack; the model's defaults keep their published or assumed sources";

export async function calibrateCloudStack(o: { stateDir: string; samples: number; logger: Logger; onProgress: (m: string) => void }): Promise<Calibration> {
  const running = readRunning(o.stateDir);
  if (!running) throw new EnvironmentError(`no CloudStack emulator runs with state ${o.stateDir}: run \`edgeplane up cloudstack --state ${o.stateDir}\` first`);
  const creds = readCredentials(o.stateDir);
  const client = new CloudStackClient({ url: creds.apiUrl, apiKey: creds.apiKey, secretKey: creds.secretKey, logger: o.logger, firstPollMs: 5, maxPollMs: 20 });
  try {
    const admin = (await client.list('listAccounts', 'account', { name: creds.username }))[0]!;
    const adminUser = (await client.list('listUsers', 'user', { username: creds.username }))[0]!;
    const edge = (await client.list('listZones', 'zone')).find((z) => z.type === 'Edge') ?? (await client.list('listZones', 'zone'))[0]!;
    const offering = (await client.list('listServiceOfferings', 'serviceoffering'))[0]!;
    const ostype = (await client.list('listOsTypes', 'ostype'))[0]!;
    // a direct-download template (never fetched: the VMs below are created with startvm=false)
    const [template] = (
      await client.call('registerTemplate', {
        name: `calibration-${randomUUID().slice(0, 8)}`,
        format: 'QCOW2',
        hypervisor: 'KVM',
        url: 'http://127.0.0.1:9/never-fetched.qcow2',
        zoneid: String(edge.id),
        ostypeid: String(ostype.id),
        directdownload: true,
      })
    ).template as Record<string, unknown>[];
    const samples = Math.max(1, o.samples);
    const start = client.recorder.records().length;
    for (let i = 0; i < samples; i++) {
      if (i % Math.max(1, Math.floor(samples / 10)) === 0) o.onProgress(`calibrate cloudstack: sample ${i + 1}/${samples}`);
      await client.call('listCapabilities');
      await client.list('listTemplates', 'template', { templatefilter: 'executable' });
      await client.list('listTags', 'tag', { resourcetype: 'Account', resourceid: String(admin.id) });
      await client.call('getUserKeys', { id: String(adminUser.id) });
      const tag = await client.submit('createTags', { resourcetype: 'Account', resourceids: String(admin.id), 'tags[0].key': 'edgeplane.calibration', 'tags[0].value': String(i) });
      await client.waitForJob(tag.jobid, 'createTags');
      const vm = await client.submit('deployVirtualMachine', {
        zoneid: String(edge.id),
        serviceofferingid: String(offering.id),
        templateid: String(template!.id),
        startvm: false,
        name: `calibration-${randomUUID().slice(0, 8)}`,
      });
      await client.waitForJob(vm.jobid, 'deployVirtualMachine');
      await client.run('destroyVirtualMachine', { id: vm.id!, expunge: true });
    }
    await client.call('deleteTemplate', { id: String(template!.id) });
    const wanted = ['cs.listCapabilities', 'cs.listTemplates', 'cs.listTags', 'cs.getUserKeys', 'cs.createTags', 'cs.deployVirtualMachine', 'cs.queryAsyncJobResult'];
    const ops = summarizeCalls(client.recorder.records().slice(start), wanted);
    return { plane: 'cloudstack', source: `${CALIBRATION_LABEL}; measured at ${creds.apiUrl} (${samples} samples per op, signed GETs on loopback)`, ops };
  } finally {
    client.close();
  }
}
