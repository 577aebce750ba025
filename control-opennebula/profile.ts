// Complexity facts of OpenNebula 6.10 for this use, measured on the live front-end. Config lines
// count what an operator writes on top of the stock files, the same measure as for the other planes.
import type { ComplexityProfile, PlaneMode, PlaneOptions } from '../adapters/index.js';

const DOCS = 'https://docs.opennebula.io/6.10';
const ONED_CONF = `${DOCS}/installation_and_configuration/opennebula_services/oned.html`;
const SCHEDULER = `${DOCS}/installation_and_configuration/opennebula_services/scheduler.html`;
const MONITORING = `${DOCS}/installation_and_configuration/opennebula_services/monitoring.html`;
const REPLICA = 'https://docs.opennebula.io/6.8/open_cluster_deployment/storage_setup/onestor_ds.html';

/**
 * Measured on the running front-end (`up opennebula`, control-opennebula/server/measure.ts: /proc RSS,
 * listening sockets, lines changed against the stock 6.10.5 configuration files), not typed in.
 */
export const ONE_LIVE_PROFILE = {
  at: 'measured here: the live front-end of `edgeplane up opennebula` (OpenNebula 6.10.5 built from source, SQLite, the trimmed dummy driver set), 2 CPUs, load average 19.7, 2026-12-02',
  oned: { processes: 1, memoryMiB: 27.9, configLines: 10 },
  drivers: { processes: 8, memoryMiB: 243.6 },
  monitord: { processes: 1, memoryMiB: 11.3, configLines: 4 },
  scheduler: { processes: 1, memoryMiB: 19.2, configLines: 2 },
  monitordClientMiB: 29.2,
  edgeServices: { processes: 1, memoryMiB: 90.2 },
} as const;

export function opennebulaProfile(mode: PlaneMode, opts: Pick<PlaneOptions, 'flags'>): ComplexityProfile {
  const m = ONE_LIVE_PROFILE;
  const services: ComplexityProfile['services'] = [
    {
      name: 'oned',
      // oned plus its Ruby drivers: auth, tm, datastore, market, ipam, hooks (one_hm), vmm, im
      processes: m.oned.processes + m.drivers.processes,
      memoryMiB: Math.round(m.oned.memoryMiB + m.drivers.memoryMiB),
      // XML-RPC, and the hook manager's ZeroMQ publisher/replier (loopback)
      ports: [2633, 2101, 2102],
      configLines: m.oned.configLines,
      source: `${m.at}: oned ${m.oned.memoryMiB} MiB + ${m.drivers.processes} Ruby drivers ${m.drivers.memoryMiB} MiB; ${m.oned.configLines} lines changed in oned.conf (docs/opennebula.md lists them; ${ONED_CONF})`,
    },
    {
      name: 'scheduler (mm_sched)',
      processes: m.scheduler.processes,
      memoryMiB: m.scheduler.memoryMiB,
      ports: [],
      configLines: m.scheduler.configLines,
      source: `${m.at}: ${m.scheduler.configLines} lines changed in sched.conf (ONE_XMLRPC, SCHED_INTERVAL; ${SCHEDULER})`,
    },
    {
      name: 'monitord',
      processes: m.monitord.processes,
      memoryMiB: m.monitord.memoryMiB,
      ports: [4124],
      configLines: m.monitord.configLines,
      source: `${m.at}: onemonitord listens on 4124 UDP/TCP; ${m.monitord.configLines} lines changed in monitord.conf (${MONITORING}); its host probes run on the hosts (the dummy IM runs them on the front-end, ${m.monitordClientMiB} MiB per host: not counted)`,
    },
  ];
  const notes = [
    'Sunstone/FireEdge (web UI, port 2616) are optional and not counted. oned on SQLite as measured; a MySQL/MariaDB backend adds mariadbd and a DB section.',
    'Datastores: an image datastore (DS_MAD fs, TM_MAD ssh) and a system datastore (TM_MAD ssh) are API templates of 3 lines each.',
  ];
  if (mode === 'native') {
    notes.push(
      'Push: oned reaches every host over ssh (port 22, oneadmin keys distributed to all hosts) to copy images (PROLOG), deploy VMs and start monitoring probes; hosts then push monitoring to monitord on 4124.',
      'Every deployment copies the image front-end -> host over ssh unless the replica cache serves it from a site host.',
    );
    if (opts.flags.replicaCache) {
      notes.push(`Replica cache: REPLICA_HOST per cluster (site) in the system datastore template (${REPLICA}).`);
    }
    notes.push(`Without one.vm.deploy naming the host, mm_sched may put the VM on another matching host (${SCHEDULER}).`);
    return { plane: 'opennebula', services, coupling: 'push', lacks: ['kms', 'signed image manifest', 'node-side verification'], notes };
  }
  services.push({
    name: 'edge services (added)',
    processes: m.edgeServices.processes,
    memoryMiB: m.edgeServices.memoryMiB,
    ports: [443],
    configLines: 0,
    source: `${m.at}: one Node process edgeplane adds on the front-end (control-opennebula/server/edge-services.ts): the byte server (ranged reads of sealed images) and the key service (/v1/secrets/{id}/payload), both checking callers with oned; configured by \`up\` (no config file)`,
  });
  notes.push(
    'Pull: the node agent calls oned (XML-RPC, port 2633), the added HTTP server and KMS; the centre never connects to the node.',
    'Each node is a ONE user: its pin (EDGE_PIN) and status (EDGE_STATUS) are attributes of its user template; the signed manifest is an attribute of the image template.',
    'Data keys cannot live in OpenNebula (templates are readable by admins and stored in the clear): an added KMS holds them.',
  );
  return { plane: 'opennebula', services, coupling: 'pull', lacks: ['kms', 'image byte serving over HTTP', 'signed image manifest', 'node-side verification'], notes };
}
