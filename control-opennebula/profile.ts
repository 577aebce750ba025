// Complexity facts of OpenNebula 6.10 for this use. Config lines count what an operator writes on
// top of package defaults (section headers included), the same measure as for the other planes.
import type { ComplexityProfile, PlaneMode, PlaneOptions } from '../adapters/index.js';

const DOCS = 'https://docs.opennebula.io/6.10';
const ONED_CONF = `${DOCS}/installation_and_configuration/opennebula_services/oned.html`;
const SCHEDULER = `${DOCS}/installation_and_configuration/opennebula_services/scheduler.html`;
const MONITORING = `${DOCS}/installation_and_configuration/opennebula_services/monitoring.html`;
const REPLICA = 'https://docs.opennebula.io/6.8/open_cluster_deployment/storage_setup/onestor_ds.html';
const MINIONE = 'https://github.com/OpenNebula/minione (a whole evaluation front-end asks for 4 GiB RAM)';

export function opennebulaProfile(mode: PlaneMode, opts: Pick<PlaneOptions, 'flags'>): ComplexityProfile {
  const services: ComplexityProfile['services'] = [
    {
      name: 'oned',
      // oned plus its driver processes: vmm (kvm), tm, datastore, market, ipam, auth, hooks
      processes: 8,
      memoryMiB: 450,
      ports: [2633],
      // DB = [ BACKEND, SERVER, PORT, USER, PASSWD, DB_NAME, CONNECTIONS ] for MySQL/MariaDB
      configLines: 9,
      source: `${ONED_CONF} (XML-RPC port 2633, DB section, MAD processes); memory assumed (~150 MiB oned + ~40 MiB per Ruby driver), cf. ${MINIONE}`,
    },
    {
      name: 'scheduler (mm_sched)',
      processes: 1,
      memoryMiB: 100,
      ports: [],
      configLines: 0,
      source: `${SCHEDULER} (package defaults kept: SCHED_INTERVAL 30, MAX_DISPATCH 30, MAX_HOST 1); memory assumed`,
    },
    {
      name: 'monitord',
      processes: 2,
      memoryMiB: 100,
      ports: [4124],
      configLines: 0,
      source: `${MONITORING} (onemonitord listens on 4124 UDP/TCP; the ssh IM driver starts host probes); memory assumed`,
    },
    {
      name: 'mariadb',
      processes: 1,
      memoryMiB: 97,
      ports: [3306],
      configLines: 0,
      source: 'measured here: mariadbd 10.11 idle RSS 97 MiB (fresh datadir), package defaults',
    },
  ];
  const notes = ['Sunstone/FireEdge (web UI, port 2616) are optional and not counted.', 'Datastores: an image datastore (DS_MAD fs, TM_MAD ssh) and a system datastore (TM_MAD ssh) are API templates of 3 lines each.'];
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
  services.push(
    {
      name: 'frontend-http (added)',
      processes: 3,
      memoryMiB: 20,
      ports: [443],
      configLines: 10,
      source: 'assumed: a static HTTP server (nginx: master + 2 workers on 2 cores) serving sealed images from the datastore; server block ~10 lines',
    },
    {
      name: 'kms (added)',
      processes: 1,
      memoryMiB: 60,
      ports: [9311],
      configLines: 8,
      source: 'assumed: a small key service added by edgeplane (OpenNebula has no KMS), Barbican-style /v1/secrets/{id}/payload; checks callers with oned',
    },
  );
  notes.push(
    'Pull: the node agent calls oned (XML-RPC, port 2633), the added HTTP server and KMS; the centre never connects to the node.',
    'Each node is a ONE user: its pin (EDGE_PIN) and status (EDGE_STATUS) are attributes of its user template; the signed manifest is an attribute of the image template.',
    'Data keys cannot live in OpenNebula (templates are readable by admins and stored in the clear): an added KMS holds them.',
  );
  return { plane: 'opennebula', services, coupling: 'pull', lacks: ['kms', 'image byte serving over HTTP', 'signed image manifest', 'node-side verification'], notes };
}
