// The configuration a local front-end runs with: the stock oned.conf, monitord.conf and sched.conf
// of the built tree with the changes listed in docs/opennebula.md (pure text transforms; each one
// must match the stock file or the build is not the one these were written for).
// Required: the dummy VM and IM drivers (they ship commented out), `dummy` in the system-datastore
// list (else datastore 0 has no capacity and mm_sched finds no system DS), the SQLite lock timeout
// raised (2500 -> 10000 ms: onemonitord shares one.db). The rest keep it on loopback, on its own
// ports and under its own state folder.

export class ConfigTemplateError extends Error {
  constructor(file: string, what: string) {
    super(`${file}: the stock file has no ${what} (not an OpenNebula 6.10 configuration?)`);
    this.name = 'ConfigTemplateError';
  }
}

function replaceOnce(file: string, text: string, pattern: RegExp, replacement: string, what: string): string {
  if (!pattern.test(text)) throw new ConfigTemplateError(file, what);
  return text.replace(pattern, replacement);
}

/** Top-level `KEY = [ ... ]` blocks (brackets inside quotes ignored), with their line spans. */
export function blocks(text: string, key: string): { start: number; end: number; body: string }[] {
  const out: { start: number; end: number; body: string }[] = [];
  const head = new RegExp(`^${key}\\s*=\\s*\\[`, 'gm');
  for (let m = head.exec(text); m !== null; m = head.exec(text)) {
    let depth = 0;
    let quoted = false;
    let i = m.index + m[0].length - 1;
    for (; i < text.length; i++) {
      const c = text[i];
      if (c === '"') quoted = !quoted;
      else if (!quoted && c === '[') depth++;
      else if (!quoted && c === ']') {
        depth--;
        if (depth === 0) break;
      }
    }
    const end = text.indexOf('\n', i);
    out.push({ start: m.index, end: end === -1 ? text.length : end + 1, body: text.slice(m.index, i + 1) });
  }
  return out;
}

function removeBlocks(text: string, key: string, drop: (body: string) => boolean): string {
  let out = text;
  for (const b of blocks(text, key).reverse()) if (drop(b.body)) out = out.slice(0, b.start) + out.slice(b.end);
  return out;
}

const nameIs = (names: string[]) => (body: string) => names.some((n) => new RegExp(`NAME\\s*=\\s*"${n}"`).test(body));

export interface OnedConfInputs {
  port: number;
  hookPub: number;
  hookRep: number;
  remoteScripts: string;
  /** HOSTNAME: the front-end's name in the drivers' transfers */
  hostname: string;
}

export function onedConf(stock: string, o: OnedConfInputs): string {
  const f = 'oned.conf';
  let t = stock;
  t = replaceOnce(f, t, /^PORT = 2633$/m, `PORT = ${o.port}`, 'PORT = 2633');
  t = replaceOnce(f, t, /^LISTEN_ADDRESS = "0\.0\.0\.0"$/m, 'LISTEN_ADDRESS = "127.0.0.1"', 'LISTEN_ADDRESS');
  t = replaceOnce(f, t, /^(DB = \[ BACKEND = "sqlite",\s*\n\s*)TIMEOUT = 2500 \]/m, '$1TIMEOUT = 10000 ]', 'the sqlite DB TIMEOUT = 2500');
  t = replaceOnce(f, t, /^# HOSTNAME = "one-hostname"$/m, `HOSTNAME = "${o.hostname}"`, 'the HOSTNAME example');
  t = replaceOnce(f, t, /^SCRIPTS_REMOTE_DIR=\/var\/tmp\/one$/m, `SCRIPTS_REMOTE_DIR=${o.remoteScripts}`, 'SCRIPTS_REMOTE_DIR');
  t = replaceOnce(f, t, /^MONITORING_INTERVAL_DATASTORE = 300$/m, 'MONITORING_INTERVAL_DATASTORE = 30', 'MONITORING_INTERVAL_DATASTORE');
  t = replaceOnce(f, t, /^DATASTORE_CAPACITY_CHECK = "yes"$/m, 'DATASTORE_CAPACITY_CHECK = "no"', 'DATASTORE_CAPACITY_CHECK');
  // the system-datastore list of the datastore driver gets `dummy`
  t = replaceOnce(f, t, /(ARGUMENTS\s*=\s*"-t 15 -d dummy,fs,[^"]*-s )shared,/, '$1dummy,shared,', 'the DATASTORE_MAD -s list');
  t = replaceOnce(f, t, /ARGUMENTS = "-p 2101 -l 2102 -b 127\.0\.0\.1"/, `ARGUMENTS = "-p ${o.hookPub} -l ${o.hookRep} -b 127.0.0.1"`, 'the HM_MAD ports');
  // offline: no marketplace monitor reaching marketplace.opennebula.io
  t = replaceOnce(f, t, /-m http,s3,one,linuxcontainers/, '-m http,s3', 'the MARKET_MAD list');
  // only the dummy VM driver: fewer Ruby drivers to start
  const before = blocks(t, 'VM_MAD').length;
  t = removeBlocks(t, 'VM_MAD', nameIs(['kvm', 'qemu', 'lxc']));
  if (blocks(t, 'VM_MAD').length !== before - 3) throw new ConfigTemplateError(f, 'VM_MAD blocks kvm, qemu and lxc');
  t += '\n# edgeplane: the dummy VM driver (ships commented out)\nVM_MAD = [ NAME = "dummy", SUNSTONE_NAME = "Testing", EXECUTABLE = "one_vmm_dummy", TYPE = "xml" ]\n';
  return t;
}

export function monitordConf(stock: string, o: { port: number }): string {
  const f = 'monitord.conf';
  let t = stock;
  t = replaceOnce(f, t, /ADDRESS\s*=\s*"0\.0\.0\.0",/, 'ADDRESS         = "127.0.0.1",', 'NETWORK ADDRESS');
  t = replaceOnce(f, t, /MONITOR_ADDRESS = "auto",/, 'MONITOR_ADDRESS = "127.0.0.1",', 'NETWORK MONITOR_ADDRESS');
  t = replaceOnce(f, t, /PORT\s*=\s*4124,/, `PORT    = ${o.port},`, 'NETWORK PORT = 4124');
  const before = blocks(t, 'IM_MAD').length;
  t = removeBlocks(t, 'IM_MAD', nameIs(['kvm', 'qemu', 'lxc']));
  if (blocks(t, 'IM_MAD').length !== before - 3) throw new ConfigTemplateError(f, 'IM_MAD blocks kvm, qemu and lxc');
  t += '\n# edgeplane: the dummy IM driver (ships commented out)\nIM_MAD = [ NAME = "dummy", SUNSTONE_NAME = "Dummy", EXECUTABLE = "one_im_sh", ARGUMENTS = "-r 3 -t 15 -w 90 dummy", THREADS = 0 ]\n';
  return t;
}

export function schedConf(stock: string, o: { onedPort: number; intervalS: number }): string {
  const f = 'sched.conf';
  let t = stock;
  t = replaceOnce(f, t, /^ONE_XMLRPC = "http:\/\/localhost:2633\/RPC2"$/m, `ONE_XMLRPC = "http://127.0.0.1:${o.onedPort}/RPC2"`, 'ONE_XMLRPC');
  t = replaceOnce(f, t, /^SCHED_INTERVAL = 15$/m, `SCHED_INTERVAL = ${o.intervalS}`, 'SCHED_INTERVAL = 15');
  return t;
}

/** The dummy IM's monitoring client writes its pid file into /tmp (one per host id, shared by all
 *  front-ends on the machine); ours writes it next to the script, under the state folder. */
export function monitordClientControl(stock: string): string {
  return replaceOnce('monitord-client_control.sh', stock, /^CLIENT_PID_FILE=\/tmp\/one-monitord-\$HID\.pid$/m, 'CLIENT_PID_FILE=$DIR/one-monitord-$HID.pid', 'CLIENT_PID_FILE');
}

/** Meaningful lines: not blank, not a comment. */
export function configLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** Lines of `generated` an operator writes on top of `stock`: added or changed (a multiset difference). */
export function changedLines(stock: string, generated: string): number {
  const left = new Map<string, number>();
  for (const l of configLines(stock)) left.set(l, (left.get(l) ?? 0) + 1);
  let n = 0;
  for (const l of configLines(generated)) {
    const c = left.get(l) ?? 0;
    if (c > 0) left.set(l, c - 1);
    else n++;
  }
  return n;
}
