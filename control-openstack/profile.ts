// Complexity facts of the minimal OpenStack plane. Defaults come from the Debian 12 packages on
// this machine; measurements on the live stack (`edgeplane up`, `edgeplane calibrate`) replace them.
import type { ComplexityProfile } from '../adapters/index.js';

const PKG = 'measured here: Debian 12 package files, non-comment lines';
// One WSGI process of Barbican measured ~135 MB RSS (ENVIRONMENT.md); Keystone and Glance
// workers are Python processes of the same kind, taken at the same size until measured.
const PY_WORKER_MIB = 130;
const UWSGI_PROCESSES = 8;

export function openstackProfile(): ComplexityProfile {
  return {
    plane: 'openstack',
    services: [
      {
        name: 'mariadb',
        processes: 1,
        memoryMiB: 97,
        ports: [3306],
        configLines: 11,
        source: `measured here: mariadbd 10.11 idle RSS 97 MiB (fresh datadir); ${PKG}: 50-server.cnf 11`,
      },
      {
        name: 'keystone',
        processes: UWSGI_PROCESSES + 1,
        memoryMiB: (UWSGI_PROCESSES + 1) * PY_WORKER_MIB,
        ports: [5000],
        configLines: 49 + 21,
        source: `${PKG}: keystone.conf 49 + keystone-uwsgi.ini 21 (processes = 8 + master); memory assumed ${PY_WORKER_MIB} MiB per process from Barbican's measured ~135 MB`,
      },
      {
        name: 'glance-api',
        processes: UWSGI_PROCESSES + 1,
        memoryMiB: (UWSGI_PROCESSES + 1) * PY_WORKER_MIB,
        ports: [9292],
        configLines: 44 + 31 + 47,
        source: `${PKG}: glance-api.conf 44 + glance-api-uwsgi.ini 31 + glance-api-paste.ini 47; memory assumed ${PY_WORKER_MIB} MiB per process`,
      },
      {
        name: 'barbican-api',
        processes: UWSGI_PROCESSES + 1,
        memoryMiB: (UWSGI_PROCESSES + 1) * PY_WORKER_MIB,
        ports: [9311],
        configLines: 33 + 23 + 49,
        source: `${PKG}: barbican.conf 33 + barbican-api-uwsgi.ini 23 + barbican-api-paste.ini 49; measured here ~135 MB RSS per process (ENVIRONMENT.md)`,
      },
    ],
    coupling: 'pull',
    lacks: ['placement', 'signed image manifest', 'node-side verification', 'status reporting'],
    notes: [
      'No Nova: placement is edgeplane pinning. Each node is a Keystone project with one user; the pin image@version is a project tag.',
      "Glance signs whole images (img_signature) only for Nova/Cinder to check; the chunked, signed manifest is edgeplane's, stored as a small Glance image shared like the image.",
      "Barbican is the KMS: the per-image data key is a secret ACL'd to the node's user.",
      'The node reports status as a tag on its own project; a policy must let a node user tag only its own project.',
      'Nodes pull over HTTPS: the centre never opens a connection to an edge node.',
      'Memory and config lines are package defaults until measured on the launched stack.',
    ],
  };
}
