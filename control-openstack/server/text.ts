// What `edgeplane up|status openstack` print about the stack.
import type { RunningStack, StackStatus } from './launcher.js';

export function renderUp(stack: RunningStack): string[] {
  const lines = [stack.started ? `OpenStack is up (${(stack.coldStartMs / 1000).toFixed(1)} s)` : 'OpenStack was already running'];
  lines.push(`  identity     ${stack.endpoints.identity}`);
  lines.push(`  image        ${stack.endpoints.image}`);
  lines.push(`  key-manager  ${stack.endpoints.keyManager}`);
  lines.push(`  database     mysql://127.0.0.1:${stack.state.ports.mariadb}`);
  const ceph = stack.state.ceph;
  if (ceph) {
    lines.push(`  ceph         mon v2:127.0.0.1:${ceph.ports.mon}, rgw http://127.0.0.1:${ceph.ports.rgw}, conf ${stack.layout.ceph.conf}`);
    lines.push(`  image store  Ceph RBD pool images (memstore OSD, at most ${Math.round(ceph.memstoreBytes / 1024 ** 2)} MiB of RAM)`);
  }
  lines.push(`  credentials  ${stack.layout.openrc}  (admin / project admin)`);
  lines.push(`  note         Keystone password_hash_rounds = ${stack.state.passwordHashRounds} (test stack)`);
  return lines;
}

export function renderStackStatus(st: StackStatus): string {
  if (!st.exists) return `no OpenStack stack in ${st.stateDir} (run \`edgeplane up openstack\`)\n`;
  const lines = [`OpenStack stack in ${st.stateDir}`];
  for (const s of st.services) {
    const state = s.healthy ? 'healthy' : s.running ? 'running, not answering' : 'stopped';
    lines.push(`  ${s.name.padEnd(9)} ${state.padEnd(22)} pid ${String(s.pid ?? '-').padEnd(8)} ${s.url}`);
  }
  lines.push(`  Keystone password_hash_rounds = ${st.passwordHashRounds}${st.passwordHashRounds !== 12 ? ' (test stack, default is 12)' : ''}`);
  if (st.coldStartMs !== null) lines.push(`  last cold start: ${(st.coldStartMs / 1000).toFixed(1)} s`);
  if (st.openrc) lines.push(`  credentials: ${st.openrc}`);
  if (st.ceph) lines.push(`  Glance on Ceph RBD: ${st.ceph.conf}${st.ceph.startMs !== null ? ` (Ceph started in ${(st.ceph.startMs / 1000).toFixed(1)} s)` : ''}`);
  return `${lines.join('\n')}\n`;
}
