// One CloudStack KVM agent as a process of its own (a host of an emulated fleet, `run --env emulate`
// with cloudstack native): connects out to the management server with its host's token, serves
// StartCommand/StopCommand with the sim hypervisor until SIGTERM. Prints `connected <hostid>` once
// the first connect succeeded; exits 3 when the management server cannot be reached at start.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createHypervisor } from '../../agent/index.js';
import { createLogger, EdgeplaneError } from '../../common/index.js';
import { KvmAgent } from './agent.js';

const { values } = parseArgs({
  options: {
    management: { type: 'string' },
    'host-id': { type: 'string' },
    'token-file': { type: 'string' },
    primary: { type: 'string' },
    work: { type: 'string' },
    'boot-ms': { type: 'string' },
    'boot-ms-file': { type: 'string' },
    log: { type: 'string' },
  },
});
const need = (name: keyof typeof values): string => {
  const v = values[name];
  if (typeof v !== 'string' || v === '') {
    process.stderr.write(`kvm agent: --${name} is required\n`);
    process.exit(2);
  }
  return v;
};
const bootMs = Number(values['boot-ms'] ?? 50);
if (!Number.isInteger(bootMs) || bootMs < 0) {
  process.stderr.write('kvm agent: --boot-ms must be a whole number of milliseconds\n');
  process.exit(2);
}
// --boot-ms-file: the VM boot time is read at each StartCommand (the emulation rewrites it per repeat)
const bootFile = values['boot-ms-file'];
const bootDelayMs = bootFile
  ? () => {
      const ms = Number(readFileSync(bootFile, 'utf8').trim());
      if (!Number.isInteger(ms) || ms < 0) throw new Error(`kvm agent: ${bootFile} must hold a whole number of milliseconds`);
      return ms;
    }
  : bootMs;
const hostid = need('host-id');
const logger = createLogger(values.log ? { file: values.log } : {});
const agent = new KvmAgent({
  managementUrl: need('management'),
  hostid,
  token: readFileSync(need('token-file'), 'utf8').trim(),
  primaryDir: need('primary'),
  hypervisor: createHypervisor('sim', { workDir: need('work'), bootDelayMs, log: logger }),
  logger,
  // a restarted agent (after a crash) finds the management server again quickly
  reconnectMs: 500,
});
// a host that comes up during a WAN cut keeps trying, as cloudstack-agent does
for (let attempt = 1; ; attempt++) {
  try {
    await agent.start();
    break;
  } catch (err) {
    if (attempt >= 120) {
      process.stderr.write(`kvm agent ${hostid}: cannot connect to the management server: ${(err as Error).message}\n`);
      process.exit(err instanceof EdgeplaneError ? err.exitCode : 3);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
process.stdout.write(`connected ${hostid}\n`);
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await agent.stop().catch(() => undefined);
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
