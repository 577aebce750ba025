// What `up` and `status` print.
import type { FrontEndStatus, RunningFrontEnd } from './launcher.js';
import { portsFrom } from './layout.js';

export function renderUp(r: RunningFrontEnd): string[] {
  const s = r.state;
  const lines = [`OpenNebula ${r.version} at ${s.endpoint} (${s.mode === 'endpoint' ? 'existing front-end: nothing started' : `state ${r.layout.stateDir}`})`];
  lines.push(`credentials: ${r.layout.credentialsFile}`);
  if (s.mode !== 'endpoint') {
    const p = portsFrom(s.portBase ?? 0);
    lines.push(`prefix: ${r.layout.prefix} (from ${s.prefixFrom})`);
    lines.push(
      `pids: ${Object.entries(s.pids)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
    lines.push(`ports: oned ${p.oned}, hooks ${p.hookPub}/${p.hookRep}, monitord ${p.monitord}, edge services ${p.edge}`);
    lines.push(`hosts: ${s.hosts} dummy host(s); CLI: . ${r.layout.envFile}`);
    if (s.coldStartMs !== undefined)
      lines.push(`cold start: oned API in ${(s.coldStartMs / 1000).toFixed(1)} s${s.firstBootstrap ? ' (first bootstrap)' : ''}, hosts MONITORED at ${((s.readyMs ?? 0) / 1000).toFixed(1)} s`);
  }
  return lines;
}

export function renderStatus(st: FrontEndStatus): string {
  if (!st.exists) return `no OpenNebula front-end in ${st.stateDir}`;
  const lines = [`${st.endpoint} (${st.mode}): ${st.api.healthy ? 'healthy' : 'NOT healthy'}: ${st.api.detail}`];
  for (const d of st.daemons) lines.push(`${d.name.padEnd(14)} pid ${String(d.pid ?? '-').padEnd(8)} ${d.running ? 'running' : 'stopped'}`);
  if (st.mode !== 'endpoint') lines.push(`monitord-client pids: ${st.monitordClients.join(', ') || 'none'}`);
  lines.push(`hosts: ${st.hosts.map((h) => `${h.name}(${h.state === 2 ? 'MONITORED' : `state ${h.state}`})`).join(' ') || 'none'}`);
  return lines.join('\n');
}
