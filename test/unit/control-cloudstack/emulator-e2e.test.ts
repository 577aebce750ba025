// End to end against the emulator in this process (only Node needed): a local HTTP server serves
// the template bytes; the TypeScript client registers a direct-download template, deploys to 3
// pinned Edge hosts whose KVM agents (connected out to the emulator) download, checksum-check,
// cache and boot it (sim hypervisor); a corrupted template is refused by checksum and the job's
// 530 surfaces as a failed deployment; the wire format (envelopes, errors, 432, 401, XML,
// signatureVersion 3, login sessions) and the restart persistence are checked on the way.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudStackApiError, CloudStackClient, runEmulator, sign, type RunningEmulator } from '../../../control-cloudstack/index.js';

const IMAGE = Buffer.alloc(256 * 1024, 7);
IMAGE.write('edgeplane cloudstack template', 0);
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let dir = '';
let files: Server;
let filesUrl = '';
let served = 0;
let releaseSlow: (() => void) | null = null;
let stack: RunningEmulator;
let admin: CloudStackClient;

async function start(): Promise<RunningEmulator> {
  return runEmulator({ stateDir: dir, port: 0, coreHosts: 1, edgeHosts: 3, bootDelayMs: 20, agentTimeoutMs: 20_000 });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ep-cs-e2e-'));
  files = createServer((req, res) => {
    served++;
    const body = req.url === '/corrupt.qcow2' ? Buffer.concat([IMAGE.subarray(0, IMAGE.length - 1), Buffer.from([0])]) : IMAGE;
    if (req.url === '/missing.qcow2') return void res.writeHead(404).end();
    if (req.url === '/slow.qcow2') {
      // half the bytes, then the rest when the test says so: the download is seen in progress
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
      res.write(body.subarray(0, body.length / 2));
      releaseSlow = () => res.end(body.subarray(body.length / 2));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length }).end(body);
  });
  await new Promise<void>((r) => files.listen(0, '127.0.0.1', () => r()));
  filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  stack = await start();
  const c = stack.credentials;
  admin = new CloudStackClient({ url: c.apiUrl, apiKey: c.apiKey, secretKey: c.secretKey, firstPollMs: 20, maxPollMs: 100 });
}, 30_000);

afterAll(async () => {
  admin?.close();
  await stack?.stop();
  await new Promise<void>((r) => files.close(() => r()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function ids() {
  const zones = await admin.list('listZones', 'zone');
  const edge = zones.find((z) => z.type === 'Edge')!;
  const core = zones.find((z) => z.type === 'Core')!;
  const offering = (await admin.list('listServiceOfferings', 'serviceoffering'))[0]!;
  const ostype = (await admin.list('listOsTypes', 'ostype'))[0]!;
  const hosts = (await admin.list('listHosts', 'host', { type: 'Routing', zoneid: String(edge.id) })).map((h) => String(h.id));
  return { edge: String(edge.id), core: String(core.id), offering: String(offering.id), ostype: String(ostype.id), hosts };
}

describe('the CloudStack emulator, end to end', () => {
  it('lists Core and Edge zones and the Edge hosts Up (their agents connected)', async () => {
    const { hosts } = await ids();
    const zones = await admin.list('listZones', 'zone');
    expect(zones.map((z) => z.type).sort()).toEqual(['Core', 'Edge']);
    expect(hosts).toHaveLength(3);
    const listed = await admin.list('listHosts', 'host', { type: 'Routing' });
    expect(listed.every((h) => h.state === 'Up' && h.hypervisor === 'KVM' && h.resourcestate === 'Enabled')).toBe(true);
  });

  it('registers a direct-download template: ready at once, "Bypassed Secondary Storage", nothing downloaded yet', async () => {
    const { edge, ostype } = await ids();
    const before = served;
    const [t] = (
      await admin.call('registerTemplate', { name: 'dd', displaytext: 'dd', format: 'QCOW2', hypervisor: 'KVM', url: `${filesUrl}/good.qcow2`, zoneid: edge, ostypeid: ostype, directdownload: true, checksum: md5(IMAGE) })
    ).template as Record<string, unknown>[];
    expect(t).toMatchObject({ isready: true, status: 'Bypassed Secondary Storage', directdownload: true, zoneid: edge });
    expect(served).toBe(before);
    // a non-KVM hypervisor may not use direct download (RegisterTemplateCmd), and Edge zones take only direct download
    await expect(admin.call('registerTemplate', { name: 'x', format: 'VHD', hypervisor: 'XenServer', url: `${filesUrl}/good.qcow2`, zoneid: edge, ostypeid: ostype, directdownload: true })).rejects.toMatchObject({
      errorcode: 431,
    });
    await expect(admin.call('registerTemplate', { name: 'x', format: 'QCOW2', hypervisor: 'KVM', url: `${filesUrl}/good.qcow2`, zoneid: edge, ostypeid: ostype })).rejects.toMatchObject({ errorcode: 431 });
  });

  it('deploys to 3 pinned hosts: each Running on its host, the template fetched once per pool with its checksum checked', async () => {
    const { edge, offering, hosts } = await ids();
    const t = (await admin.list('listTemplates', 'template', { templatefilter: 'self', name: 'dd' }))[0]!;
    const before = served;
    const deployed = await Promise.all(hosts.map((hostid, i) => admin.run('deployVirtualMachine', { zoneid: edge, serviceofferingid: offering, templateid: String(t.id), hostid, name: `pinned-${i}` })));
    for (const [i, d] of deployed.entries()) {
      const vm = d.jobresult!.virtualmachine as Record<string, unknown>;
      expect(vm).toMatchObject({ state: 'Running', hostid: hosts[i], name: `pinned-${i}` });
    }
    expect(served - before).toBe(3);
    const vms = await admin.list('listVirtualMachines', 'virtualmachine', { listall: true, state: 'Running' });
    expect(
      vms
        .filter((v) => String(v.name).startsWith('pinned-'))
        .map((v) => v.hostid)
        .sort(),
    ).toEqual([...hosts].sort());
    for (const h of stack.credentials.hosts.filter((x) => x.zone === 'edge-1')) {
      const pool = (await readdirPools(h.id))!;
      expect((await stat(join(dir, 'primary', pool, String(t.id)))).size).toBe(IMAGE.length);
    }
    // a second VM on a host reuses its pool's copy: no download
    const again = served;
    await admin.run('deployVirtualMachine', { zoneid: edge, serviceofferingid: offering, templateid: String(t.id), hostid: hosts[0]!, name: 'cached' });
    expect(served).toBe(again);
  });

  it('refuses a corrupted template by checksum: the job fails with 530, the VM is in Error, the bad bytes are not kept', async () => {
    const { edge, offering, ostype, hosts } = await ids();
    const [t] = (
      await admin.call('registerTemplate', {
        name: 'corrupt',
        format: 'QCOW2',
        hypervisor: 'KVM',
        url: `${filesUrl}/corrupt.qcow2`,
        zoneid: edge,
        ostypeid: ostype,
        directdownload: true,
        checksum: `{SHA-256}${sha256(IMAGE)}`,
      })
    ).template as Record<string, unknown>[];
    const err = await admin.run('deployVirtualMachine', { zoneid: edge, serviceofferingid: offering, templateid: String(t!.id), hostid: hosts[1]!, name: 'bad' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CloudStackApiError);
    expect(err).toMatchObject({ errorcode: 530 });
    expect((err as Error).message).toMatch(/Checksum validation failed/);
    const [vm] = await admin.list('listVirtualMachines', 'virtualmachine', { listall: true, name: 'bad' });
    expect(vm!.state).toBe('Error');
    const job = await admin.call('queryAsyncJobResult', { jobid: (err as CloudStackApiError).jobid! });
    expect(job).toMatchObject({ jobstatus: 2, jobresultcode: 530, jobresult: { errorcode: 530 } });
    const pool = (await readdirPools(hosts[1]!))!;
    await expect(stat(join(dir, 'primary', pool, String(t!.id)))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(stat(join(dir, 'primary', pool, `${String(t!.id)}.part`))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a non-direct template downloads to secondary storage ("N% Downloaded" → "Download Complete") and is copied to the host pool', async () => {
    const { core, offering, ostype } = await ids();
    const [t] = (await admin.call('registerTemplate', { name: 'core-t', format: 'QCOW2', hypervisor: 'KVM', url: `${filesUrl}/good.qcow2`, zoneid: core, ostypeid: ostype, checksum: md5(IMAGE) })).template as Record<
      string,
      unknown
    >[];
    expect(t!.isready).toBe(false);
    // featured/executable list only ready templates; self shows it while it downloads
    let status = '';
    for (let i = 0; i < 100 && status !== 'Download Complete'; i++) {
      status = String((await admin.list('listTemplates', 'template', { templatefilter: 'self', id: String(t!.id) }))[0]!.status);
      if (status !== 'Download Complete') await new Promise((r) => setTimeout(r, 20));
    }
    expect(status).toBe('Download Complete');
    expect(await readFile(join(dir, 'secondary', String(t!.id)))).toEqual(IMAGE);
    const d = await admin.run('deployVirtualMachine', { zoneid: core, serviceofferingid: offering, templateid: String(t!.id) });
    expect((d.jobresult!.virtualmachine as Record<string, unknown>).state).toBe('Running');
  });

  it('templatefilter: a template still downloading is listed by self and all only, with its progress; ready, by executable too', async () => {
    const { core, ostype } = await ids();
    const [t] = (await admin.call('registerTemplate', { name: 'slow', format: 'QCOW2', hypervisor: 'KVM', url: `${filesUrl}/slow.qcow2`, zoneid: core, ostypeid: ostype, ispublic: true, isfeatured: true }))
      .template as Record<string, unknown>[];
    const id = String(t!.id);
    const seen = async (filter: string) => (await admin.list('listTemplates', 'template', { templatefilter: filter, id })).length;
    let status = '';
    for (let i = 0; i < 200 && !/^[1-9]\d?% Downloaded$/.test(status); i++) {
      status = String((await admin.list('listTemplates', 'template', { templatefilter: 'self', id }))[0]!.status);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(status).toMatch(/^\d+% Downloaded$/);
    expect([await seen('self'), await seen('all'), await seen('executable'), await seen('featured'), await seen('selfexecutable')]).toEqual([1, 1, 0, 0, 0]);
    releaseSlow!();
    for (let i = 0; i < 200 && status !== 'Download Complete'; i++) {
      status = String((await admin.list('listTemplates', 'template', { templatefilter: 'self', id }))[0]!.status);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(status).toBe('Download Complete');
    expect([await seen('executable'), await seen('featured'), await seen('selfexecutable'), await seen('community')]).toEqual([1, 1, 1, 0]);
  });

  it('listApis reports the implemented commands with isasync as they run', async () => {
    const apis = await admin.list('listApis', 'api');
    const byName = new Map(apis.map((a) => [String(a.name), a]));
    expect(byName.get('deployVirtualMachine')).toMatchObject({ isasync: true });
    expect(byName.get('registerTemplate')).toMatchObject({ isasync: false });
    expect(byName.get('createTags')).toMatchObject({ isasync: true });
    expect(byName.has('createVPC')).toBe(false);
    const deploy = byName.get('deployVirtualMachine')!.params as { name: string; required: boolean }[];
    expect(
      deploy
        .filter((p) => p.required)
        .map((p) => p.name)
        .sort(),
    ).toEqual(['serviceofferingid', 'templateid', 'zoneid']);
  });

  it('stop, start, destroy follow the VM state machine', async () => {
    const [vm] = await admin.list('listVirtualMachines', 'virtualmachine', { listall: true, name: 'pinned-2' });
    const stopped = await admin.run('stopVirtualMachine', { id: String(vm!.id) });
    expect((stopped.jobresult!.virtualmachine as Record<string, unknown>).state).toBe('Stopped');
    const started = await admin.run('startVirtualMachine', { id: String(vm!.id) });
    expect(started.jobresult!.virtualmachine as Record<string, unknown>).toMatchObject({ state: 'Running', hostid: vm!.hostid });
    const destroyed = await admin.run('destroyVirtualMachine', { id: String(vm!.id) });
    expect((destroyed.jobresult!.virtualmachine as Record<string, unknown>).state).toBe('Destroyed');
    await expect(admin.run('startVirtualMachine', { id: String(vm!.id) })).rejects.toMatchObject({ errorcode: 431 });
  });

  it('answers as CloudStack on the wire: 432 errorresponse for unknown commands, 401 for bad signatures, XML, expired requests', async () => {
    const c = stack.credentials;
    const get = async (params: Record<string, string>) => {
      const res = await fetch(`${c.apiUrl}?${new URLSearchParams(params)}`);
      return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
    };
    const signed = (p: Record<string, string>) => ({ ...p, signature: sign(p, c.secretKey) });
    const unknown = await get(signed({ command: 'createVPC', apiKey: c.apiKey, response: 'json' }));
    expect(unknown.status).toBe(432);
    expect(JSON.parse(unknown.text)).toEqual({ errorresponse: { errorcode: 432, cserrorcode: 9999, errortext: 'The given command does not exist or it is not available for user' } });
    const bad = await get({ command: 'listZones', apiKey: c.apiKey, response: 'json', signature: 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=' });
    expect(bad.status).toBe(401);
    expect(JSON.parse(bad.text)).toEqual({ listzonesresponse: { errorcode: 401, cserrorcode: 9999, errortext: 'unable to verify user credentials and/or request signature' } });
    const xml = await get(signed({ command: 'listZones', apiKey: c.apiKey }));
    expect(xml.type).toMatch(/^text\/xml/);
    expect(xml.text).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?><listzonesresponse cloud-stack-version="[\d.]+"><count>2<\/count><zone><id>/);
    const expired = await get(signed({ command: 'listZones', apiKey: c.apiKey, response: 'json', signatureVersion: '3', expires: '2020-01-01T00:00:00+0000' }));
    expect(expired.status).toBe(401);
    const empty = await get(signed({ command: 'listVirtualMachines', apiKey: c.apiKey, response: 'json', name: 'nothing-by-this-name' }));
    expect(JSON.parse(empty.text)).toEqual({ listvirtualmachinesresponse: {} });
    const missing = await get(signed({ command: 'deployVirtualMachine', apiKey: c.apiKey, response: 'json' }));
    expect(missing.status).toBe(431);
    expect(JSON.parse(missing.text).deployvirtualmachineresponse).toMatchObject({ errorcode: 431, cserrorcode: 4350 });
    const sha512 = new CloudStackClient({ url: c.apiUrl, apiKey: c.apiKey, secretKey: c.secretKey, algorithm: 'sha512' });
    expect((await sha512.list('listZones', 'zone')).length).toBe(2);
    sha512.close();
  });

  it('a login session (sessionkey cookie + parameter) works without a signature, as the UI uses it', async () => {
    const c = stack.credentials;
    const login = await fetch(c.apiUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ command: 'login', username: c.username, password: c.password, domain: '/', response: 'json' }),
    });
    expect(login.status).toBe(200);
    const { sessionkey } = (await login.json()).loginresponse;
    const cookies = login.headers
      .getSetCookie()
      .map((x) => x.split(';')[0])
      .join('; ');
    const zones = await fetch(`${c.apiUrl}?${new URLSearchParams({ command: 'listZones', response: 'json', sessionkey })}`, { headers: { cookie: cookies } });
    expect((await zones.json()).listzonesresponse.count).toBe(2);
    const wrong = await fetch(c.apiUrl, { method: 'POST', body: new URLSearchParams({ command: 'login', username: c.username, password: 'nope', response: 'json' }) });
    expect(wrong.status).toBe(531);
  });

  it('keeps templates, VMs and jobs across a restart (SQLite file)', async () => {
    const vmsBefore = await admin.list('listVirtualMachines', 'virtualmachine', { listall: true });
    const tBefore = await admin.list('listTemplates', 'template', { templatefilter: 'all' });
    const jobsBefore = await admin.list('listAsyncJobs', 'asyncjobs');
    await stack.stop();
    stack = await start();
    admin.close();
    admin = new CloudStackClient({ url: stack.credentials.apiUrl, apiKey: stack.credentials.apiKey, secretKey: stack.credentials.secretKey, firstPollMs: 20, maxPollMs: 100 });
    expect((await admin.list('listVirtualMachines', 'virtualmachine', { listall: true })).map((v) => [v.id, v.state])).toEqual(vmsBefore.map((v) => [v.id, v.state]));
    expect((await admin.list('listTemplates', 'template', { templatefilter: 'all' })).map((t) => t.id)).toEqual(tBefore.map((t) => t.id));
    expect((await admin.list('listAsyncJobs', 'asyncjobs')).length).toBe(jobsBefore.length);
  }, 30_000);
});

async function readdirPools(hostid: string): Promise<string | null> {
  const hosts = await admin.list('listHosts', 'host', { id: hostid });
  void hosts;
  const { readdir } = await import('node:fs/promises');
  for (const pool of await readdir(join(dir, 'primary'))) {
    const db = stack.emulator.cloud.db.get<{ hostid: string }>('pools', pool);
    if (db?.data.hostid === hostid) return pool;
  }
  return null;
}
