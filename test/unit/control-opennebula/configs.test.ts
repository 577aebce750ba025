import { describe, expect, it } from 'vitest';
import { blocks, changedLines, ConfigTemplateError, monitordClientControl, monitordConf, onedConf, schedConf } from '../../../control-opennebula/server/index.js';

// the lines of the 6.10.5 stock files the transforms touch, in their stock form
const vmMad = (name: string) => `VM_MAD = [\n    NAME           = "${name}",\n    EXECUTABLE     = "one_vmm_exec",\n    IMPORTED_VMS_ACTIONS = "terminate, [x],\n        resize"\n]\n`;
const ONED = [
  'LOG = [\n  SYSTEM = "file",\n  DEBUG_LEVEL = 3\n]',
  'MONITORING_INTERVAL_DATASTORE = 300',
  'SCRIPTS_REMOTE_DIR=/var/tmp/one',
  'DB = [ BACKEND = "sqlite",\n       TIMEOUT = 2500 ]',
  'PORT = 2633',
  'LISTEN_ADDRESS = "0.0.0.0"',
  '# HOSTNAME = "one-hostname"',
  'DATASTORE_CAPACITY_CHECK = "yes"',
  vmMad('kvm'),
  vmMad('qemu'),
  vmMad('lxc'),
  '#VM_MAD = [ NAME="dummy", SUNSTONE_NAME="Testing", EXECUTABLE="one_vmm_dummy",\n#    TYPE="xml" ]',
  'DATASTORE_MAD = [\n    EXECUTABLE = "one_datastore",\n    ARGUMENTS  = "-t 15 -d dummy,fs,lvm,ceph,dev,iscsi_libvirt,vcenter,restic,rsync -s shared,ssh,ceph,fs_lvm,fs_lvm_ssh,qcow2,vcenter"\n]',
  'MARKET_MAD = [\n    EXECUTABLE = "one_market",\n    ARGUMENTS  = "-t 15 -m http,s3,one,linuxcontainers"\n]',
  'HM_MAD = [\n    EXECUTABLE = "one_hm",\n    ARGUMENTS = "-p 2101 -l 2102 -b 127.0.0.1"]',
].join('\n');

const imMad = (name: string) => `IM_MAD = [\n    NAME          = "${name}",\n    EXECUTABLE    = "one_im_ssh",\n    ARGUMENTS     = "-r 3 -t 15 -w 90 ${name}",\n    THREADS       = 0\n]\n`;
const MONITORD = `NETWORK = [\n    ADDRESS         = "0.0.0.0",\n    MONITOR_ADDRESS = "auto",\n    PORT    = 4124,\n    THREADS = 8\n]\n${imMad('kvm')}${imMad('qemu')}${imMad('lxc')}`;
const SCHED = 'ONE_XMLRPC = "http://localhost:2633/RPC2"\nSCHED_INTERVAL = 15\nMAX_DISPATCH = 30\n';

describe('oned.conf', () => {
  const conf = onedConf(ONED, { port: 46000, hookPub: 46001, hookRep: 46002, remoteScripts: '/st/remote-scripts', hostname: 'fe' });
  it('has the required changes: dummy VM driver, dummy system datastore, SQLite timeout', () => {
    expect(conf).toMatch(/^VM_MAD = \[ NAME = "dummy", .*EXECUTABLE = "one_vmm_dummy"/m);
    expect(conf).toContain('-s dummy,shared,ssh,');
    expect(conf).toMatch(/TIMEOUT = 10000 \]/);
  });
  it('stays on loopback, on its own ports and under its state folder', () => {
    expect(conf).toMatch(/^PORT = 46000$/m);
    expect(conf).toMatch(/^LISTEN_ADDRESS = "127.0.0.1"$/m);
    expect(conf).toContain('-p 46001 -l 46002 -b 127.0.0.1');
    expect(conf).toMatch(/^SCRIPTS_REMOTE_DIR=\/st\/remote-scripts$/m);
    expect(conf).toContain('-m http,s3"');
    // the name the TM copies start from: an alias in the drivers' ssh configuration
    expect(conf).toMatch(/^HOSTNAME = "fe"$/m);
  });
  it('drops the kvm, qemu and lxc VM drivers (brackets inside quotes do not end a block)', () => {
    expect(blocks(ONED, 'VM_MAD')).toHaveLength(3);
    expect(blocks(conf, 'VM_MAD')).toHaveLength(1);
    expect(conf).not.toContain('one_vmm_exec');
    expect(conf).not.toContain('resize"');
  });
  it('counts what an operator writes on top of the stock file', () => {
    // PORT, LISTEN_ADDRESS, TIMEOUT, SCRIPTS_REMOTE_DIR, MONITORING_INTERVAL_DATASTORE, DATASTORE_CAPACITY_CHECK,
    // HOSTNAME, the DATASTORE_MAD, MARKET_MAD and HM_MAD argument lines, and the dummy VM_MAD line
    expect(changedLines(ONED, conf)).toBe(11);
  });
  it('refuses a stock file it was not written for', () => {
    expect(() => onedConf(ONED.replace('PORT = 2633', 'PORT = 9'), { port: 1, hookPub: 2, hookRep: 3, remoteScripts: '/x', hostname: 'fe' })).toThrow(ConfigTemplateError);
  });
});

describe('monitord.conf, sched.conf and the monitoring client', () => {
  it('monitord: loopback, own port, only the dummy IM driver', () => {
    const conf = monitordConf(MONITORD, { port: 46003 });
    expect(conf).toContain('PORT    = 46003,');
    expect(conf).toContain('ADDRESS         = "127.0.0.1",');
    expect(conf).toContain('MONITOR_ADDRESS = "127.0.0.1",');
    expect(blocks(conf, 'IM_MAD').map((b) => /NAME = "(\w+)"/.exec(b.body)?.[1])).toEqual(['dummy']);
    expect(changedLines(MONITORD, conf)).toBe(4);
  });
  it('sched: our oned, the testbed interval', () => {
    const conf = schedConf(SCHED, { onedPort: 46000, intervalS: 2 });
    expect(conf).toContain('ONE_XMLRPC = "http://127.0.0.1:46000/RPC2"');
    expect(conf).toMatch(/^SCHED_INTERVAL = 2$/m);
    expect(() => schedConf('SCHED_INTERVAL = 15\n', { onedPort: 1, intervalS: 2 })).toThrow(ConfigTemplateError);
  });
  it("the dummy IM's monitoring client keeps its pid file under the state folder, not /tmp", () => {
    const out = monitordClientControl('CLIENT=$DIR/monitord-client.rb\nCLIENT_PID_FILE=/tmp/one-monitord-$HID.pid\n');
    expect(out).toContain('CLIENT_PID_FILE=$DIR/one-monitord-$HID.pid');
    expect(out).not.toContain('/tmp/');
  });
});
