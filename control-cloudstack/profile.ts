// Complexity facts of Apache CloudStack (4.18+, KVM) for this use. Config lines count what an
// operator writes or supplies on top of package defaults, the same measure as for the other planes.
import type { ComplexityProfile, PlaneMode, PlaneOptions } from '../adapters/index.js';

const DOCS = 'https://docs.cloudstack.apache.org/en/latest';
const MGMT_INSTALL = `${DOCS}/installguide/management-server/index.html`;
const KVM_INSTALL = `${DOCS}/installguide/hypervisor/kvm.html`;
const TUNING = `${DOCS}/adminguide/tuning.html`;
const EDGE_ZONE = `${DOCS}/installguide/configuration.html (Edge zones)`;
const SYSTEM_VMS = 'https://github.com/apache/cloudstack (defaults: SecondaryStorageVmManager DEFAULT_SS_VM_RAMSIZE 512, VirtualNetworkApplianceManager DEFAULT_ROUTER_VM_RAMSIZE 256, console proxy offering 1024 MB)';

export function cloudstackProfile(mode: PlaneMode, opts: Pick<PlaneOptions, 'flags'>): ComplexityProfile {
  const services: ComplexityProfile['services'] = [
    {
      name: 'management server',
      processes: 1,
      memoryMiB: 2048,
      ports: [8080, 8250, 9090],
      configLines: 18,
      source: `${MGMT_INSTALL} (ports 8080 API/UI, 8250 agents, 9090 cluster); ${TUNING} (default -Xmx2G); config: assumed count of values supplied to cloudstack-setup-databases and the zone wizard (zone, pod, cluster, storage)`,
    },
    {
      name: 'mysql',
      processes: 1,
      memoryMiB: 97,
      ports: [3306],
      configLines: 6,
      source: `${MGMT_INSTALL} (my.cnf additions: innodb_rollback_on_timeout, innodb_lock_wait_timeout, max_connections, server-id, log-bin, binlog-format); memory measured here for MariaDB 10.11 idle (97 MiB)`,
    },
  ];
  const notes: string[] = [];
  if (mode === 'native') {
    services.push({
      name: 'cloudstack-agent (per KVM host)',
      processes: 1,
      memoryMiB: 300,
      ports: [16509],
      configLines: 6,
      source: `${KVM_INSTALL} (libvirtd listen_tls/listen_tcp/tcp_port/auth_tcp/mdns_adv, qemu.conf vnc_listen; agent.properties written by cloudstack-setup-agent); memory assumed`,
    });
    if (!opts.flags.directDownload) {
      services.push(
        { name: 'secondary storage VM', processes: 1, memoryMiB: 512, ports: [], configLines: 0, source: SYSTEM_VMS },
        { name: 'console proxy VM', processes: 1, memoryMiB: 1024, ports: [443], configLines: 0, source: SYSTEM_VMS },
        { name: 'virtual router (per isolated network)', processes: 1, memoryMiB: 256, ports: [], configLines: 0, source: SYSTEM_VMS },
      );
      notes.push('Core zone: secondary storage (NFS) with its system VM, a console proxy VM and a virtual router per isolated guest network.');
    } else {
      notes.push(`Edge zone with direct-download templates: no secondary storage and no system VMs; the KVM host fetches the template over HTTP and checks its checksum (${EDGE_ZONE}).`);
    }
    notes.push(
      'Centre -> edge? Not for deployments: the KVM agent opens the connection to the management server on 8250 and commands flow back over it, so edge hosts behind NAT work.',
      'But adding a KVM host makes the management server ssh to it (addHost with username/password runs the agent setup), and console access (console proxy -> host VNC 5900-6100) and live migration (libvirt 16509) are centre/peer -> edge connections.',
      'Host pinning (hostid) needs root-admin API keys; every request is signed with HMAC-SHA1.',
    );
    return { plane: 'cloudstack', services, coupling: 'pull', lacks: ['kms', 'signed image manifest', 'node-side verification'], notes };
  }
  services.push(
    {
      name: 'template-http (added)',
      processes: 3,
      memoryMiB: 20,
      ports: [443],
      configLines: 10,
      source: 'assumed: the static HTTP server templates are registered from (nginx: master + 2 workers) also serves sealed chunks; server block ~10 lines',
    },
    {
      name: 'kms (added)',
      processes: 1,
      memoryMiB: 60,
      ports: [9311],
      configLines: 8,
      source: "assumed: a small key service added by edgeplane (CloudStack has none), Barbican-style /v1/secrets/{id}/payload; checks signed requests with the node's keys",
    },
  );
  notes.push(
    'Pull: the node agent calls the management server (signed API, 8080), the HTTP origin and the KMS; the centre never connects to the node.',
    'Each node is a CloudStack user account with API keys; its pin and status are resource tags; the template is shared with it (updateTemplatePermissions); the manifest sits next to the template on the HTTP origin.',
    'Registering templates still needs secondary storage (and its system VM) unless they are registered for direct download, which CloudStack checks from a KVM host.',
  );
  return { plane: 'cloudstack', services, coupling: 'pull', lacks: ['kms', 'image byte serving over HTTP', 'signed image manifest', 'node-side verification'], notes };
}
