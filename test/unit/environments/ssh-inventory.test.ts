// The SSH-node pieces that need no sshd: the inventory schema, the probe's reading of a host,
// which plane ports a tunnel must carry, and shell quoting.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../common/index.js';
import { describeConnectError, inventoryText, loopbackPorts, parseInventory, parseProbe, probeCommand, shellQuote, viaTunnel } from '../../../environments/index.js';

describe('inventory', () => {
  it('fills defaults and resolves key files against the inventory folder', () => {
    const inv = parseInventory('nodes:\n  - {name: a, host: 10.0.0.1, key: keys/id}\n  - {name: b, host: h.example, port: 2222, user: edge, site: s1, workDir: /var/tmp}\n', '/etc/ep/inv.yaml');
    expect(inv.connectTimeoutS).toBe(15);
    expect(inv.plane).toEqual({ access: 'tunnel', ports: [] });
    expect(inv.nodes[0]).toMatchObject({ name: 'a', port: 22, user: 'root', key: '/etc/ep/keys/id', workDir: '/tmp', node: 'node' });
    expect(inv.nodes[1]).toMatchObject({ port: 2222, user: 'edge', site: 's1', workDir: '/var/tmp' });
  });

  it('refuses bad inventories with an InputError naming the problem', () => {
    const bad = (text: string, re: RegExp) => {
      expect(() => parseInventory(text, 'inv.yaml')).toThrow(InputError);
      expect(() => parseInventory(text, 'inv.yaml')).toThrow(re);
    };
    bad('nodes: []', /nodes/);
    bad('nodes:\n  - {name: a, hots: x}', /not a valid inventory/);
    bad('nodes:\n  - {name: a, host: x, port: 70000}', /port/);
    bad('nodes:\n  - {name: a, host: x}\n  - {name: a, host: y}', /appears twice/);
    bad('nodes:\n  - {name: "../x", host: x}', /name/);
    bad('nodes: [', /not valid YAML/);
    bad('nodes:\n  - {name: a, host: x, hostKey: md5:xx}', /hostKey/);
  });

  it('writes inventories it reads back', () => {
    const nodes = [{ name: 'vm-0', host: '127.0.0.1', port: 22001, user: 'root', key: '/k/id', site: 'vms', workDir: '/tmp', node: 'node' }];
    const back = parseInventory(inventoryText(nodes, 'test'), '/x/inv.yaml');
    expect(back.nodes).toEqual(nodes);
  });
});

describe('probe', () => {
  it('reads a host with Node 20+, and says why one without cannot run the agent', () => {
    const m = { os: 'linux', arch: 'x64', cpus: 2, memoryMiB: 1024, node: 'v20.1.0', hostname: 'h', kvm: false };
    const ok = parseProbe(`EPUNAME Linux 6.1 x86_64\nEPNODEPATH /usr/bin/node\nEPMACHINE ${JSON.stringify(m)}\n`, '', 'node');
    expect(ok).toEqual({ ok: true, machine: m, nodePath: '/usr/bin/node' });
    const none = parseProbe('EPUNAME Linux 6.1 x86_64\nEPNONODE\n', '', 'node');
    expect(none).toMatchObject({ ok: false, uname: 'Linux 6.1 x86_64', problem: expect.stringMatching(/no Node\.js on the host/) });
    const old = parseProbe(`EPUNAME x\nEPNODEPATH /n\nEPMACHINE ${JSON.stringify({ ...m, node: 'v18.19.0' })}\n`, '', 'node');
    expect(old).toMatchObject({ ok: false, problem: expect.stringMatching(/v18\.19\.0.*>= 20/) });
    expect(parseProbe('EPUNAME x\nEPNODEPATH /n\n', 'Illegal instruction', 'node')).toMatchObject({ ok: false, problem: expect.stringMatching(/did not run: Illegal instruction/) });
  });

  it("the probe command runs in this machine's sh and finds this Node", () => {
    const out = execFileSync('sh', ['-c', probeCommand(process.execPath)], { encoding: 'utf8' });
    const p = parseProbe(out, '', process.execPath);
    expect(p).toMatchObject({ ok: true, machine: { node: process.version, arch: process.arch } });
    const missing = parseProbe(execFileSync('sh', ['-c', probeCommand('/nonexistent/node')], { encoding: 'utf8' }), '', '/nonexistent/node');
    expect(missing.ok).toBe(false);
  });
});

describe('tunnels and quoting', () => {
  it("finds the plane's loopback ports and points localhost at 127.0.0.1", () => {
    const section = { kind: 'openstack', authUrl: 'http://localhost:35000/v3', extra: ['https://127.0.0.1/x', 'http://10.0.0.1:9292/'], url: 'http://127.0.0.1:8080/test-plane/v1' };
    expect(loopbackPorts(section)).toEqual([443, 8080, 35000]);
    expect(viaTunnel(section).authUrl).toBe('http://127.0.0.1:35000/v3');
    expect(viaTunnel(section).extra[1]).toBe('http://10.0.0.1:9292/');
  });

  it('quotes shell words so sh reads them back unchanged', () => {
    for (const s of ["it's", 'a b', '$(rm -rf /)', '`x`', '"q"', '']) expect(execFileSync('sh', ['-c', `printf %s ${shellQuote(s)}`], { encoding: 'utf8' })).toBe(s);
  });

  it('describes connection failures by cause', () => {
    const n = { name: 'n1', host: 'h', port: 22, user: 'root' };
    expect(describeConnectError(Object.assign(new Error('x'), { level: 'client-authentication' }), n)).toMatch(/n1 .*authentication failed/);
    expect(describeConnectError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), n)).toMatch(/connection refused/);
    expect(describeConnectError(Object.assign(new Error('x'), { level: 'client-timeout' }), n)).toMatch(/no SSH handshake in time/);
    expect(describeConnectError(Object.assign(new Error('x'), { code: 'ENOTFOUND' }), n)).toMatch(/unknown host h/);
  });
});
