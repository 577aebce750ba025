// `edgeplane fleet publish|enroll|assign|revoke|status`: operator workflows on the OpenStack plane
// (Keystone projects as nodes, pins as project tags, images in Glance, keys in Barbican).
import { join } from 'node:path';
import type { Command } from 'commander';
import { createLogger } from '../../common/index.js';
import {
  assignFleet,
  enrollFleet,
  fleetStatus,
  openFleet,
  OPENSTACK_STATE_DIR,
  parseAssignment,
  publishToFleet,
  revokeFleet,
  type NodeStatus,
} from '../../control-openstack/index.js';

interface StateFlags {
  state: string;
  json?: boolean;
}

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

export function register(program: Command): void {
  const fleet = program
    .command('fleet')
    .description('operate a fleet on the OpenStack plane: publish images, enroll nodes, assign, revoke, status')
    .addHelpText('after', '\nAll subcommands take --state DIR (the stack of `edgeplane up openstack`). Exit codes: 0 ok, 2 bad input, 3 stack missing or a call failed.');

  fleet
    .command('publish')
    .description('seal (if given a raw image) and publish: the sealed chunks as one Glance image, the signed manifest as a second, the data key in Barbican')
    .argument('<image>', 'raw image file, or a sealed directory (manifest.json + chunks/)')
    .requiredOption('--id <id>', 'image id (as in the manifest)')
    .requiredOption('--image-version <v>', 'image version')
    .option('--keys <dir>', 'publisher.key, publisher.pub, data.key (generated here when absent, raw images only)', 'keys')
    .option('--sealed-out <dir>', 'keep the sealed image of a raw input here (default: a temporary folder)')
    .option('--state <dir>', 'state dir given to `edgeplane up`', OPENSTACK_STATE_DIR)
    .option('--json', 'print JSON')
    .action(async (source: string, f: StateFlags & { id: string; imageVersion: string; keys: string; sealedOut?: string }) => {
      const { operator } = openFleet(f.state);
      const logger = createLogger({ file: join(f.state, 'logs', 'edgeplane-fleet.log') });
      const r = await publishToFleet(operator, { source, imageId: f.id, version: f.imageVersion, keysDir: f.keys, sealedDir: f.sealedOut, logger });
      if (f.json) return out(JSON.stringify(r, null, 2));
      if (r.keysGenerated) out(`generated keys in ${r.keysDir}`);
      out(`published ${f.id}@${f.imageVersion}: ${r.chunks} chunks, ${r.blobBytes} bytes${r.sealed ? ' (sealed here)' : ''}`);
      out(`  image           ${r.imageId}`);
      out(`  manifest image  ${r.manifestImageId}`);
      out(`  key secret      ${r.keySecretId}`);
      out(`  assign with     edgeplane fleet assign ${r.imageId}@${r.version} <node...>`);
    });

  fleet
    .command('enroll')
    .description('create each node\'s Keystone project, user and report credential; write one agent config per node')
    .argument('<node...>', 'node ids ([a-z0-9-], up to 48 characters)')
    .option('--out <dir>', 'write <node>.agent.yaml here (mode 0600: it holds the node password)')
    .option('--trust <pem...>', 'publisher public keys the agents accept (paths as the node sees them)', ['publisher.pub'])
    .option('--state <dir>', 'state dir given to `edgeplane up`', OPENSTACK_STATE_DIR)
    .option('--json', 'print JSON (includes the node credentials)')
    .action(async (nodes: string[], f: StateFlags & { out?: string; trust: string[] }) => {
      const { operator } = openFleet(f.state);
      const enrolled = await enrollFleet(operator, nodes, { outDir: f.out, trust: f.trust });
      if (f.json) return out(JSON.stringify(enrolled.map((e) => ({ nodeId: e.node.nodeId, projectId: e.node.projectId, userId: e.node.userId, reportCredentialId: e.node.reportCredentialId, configFile: e.configFile })), null, 2));
      for (const e of enrolled) out(`${e.node.nodeId.padEnd(20)} project ${e.node.projectId}  user ${e.node.userId}${e.configFile ? `  config ${e.configFile}` : ''}`);
      if (!f.out) out('(no --out: no agent configs written; the node passwords are not shown)');
    });

  fleet
    .command('assign')
    .description('pin <image-id>@<version> on the nodes: share the image and manifest, add them to the key ACL, set the pin tag')
    .argument('<assignment>', '<image-id>@<version>')
    .argument('<node...>', 'node ids')
    .option('--state <dir>', 'state dir given to `edgeplane up`', OPENSTACK_STATE_DIR)
    .action(async (assignment: string, nodes: string[], f: StateFlags) => {
      const a = parseAssignment(assignment);
      const { operator } = openFleet(f.state);
      for (const p of await assignFleet(operator, a, nodes)) out(`${p.nodeId.padEnd(20)} ${p.pinTag}`);
    });

  fleet
    .command('revoke')
    .description('disable the nodes\' users (tokens revoked, no new login) and withdraw their image, manifest and key')
    .argument('<node...>', 'node ids')
    .option('--state <dir>', 'state dir given to `edgeplane up`', OPENSTACK_STATE_DIR)
    .action(async (nodes: string[], f: StateFlags) => {
      const { operator } = openFleet(f.state);
      for (const n of await revokeFleet(operator, nodes)) out(`${n.padEnd(20)} revoked`);
    });

  fleet
    .command('status')
    .description('each enrolled node: enabled, pin and last report')
    .argument('[node...]', 'only these nodes (default: every enrolled node)')
    .option('--state <dir>', 'state dir given to `edgeplane up`', OPENSTACK_STATE_DIR)
    .option('--json', 'print JSON')
    .action(async (nodes: string[], f: StateFlags) => {
      const { operator } = openFleet(f.state);
      const st = await fleetStatus(operator, nodes);
      if (f.json) return out(JSON.stringify(st, null, 2));
      out(renderFleetStatus(st));
    });
}

export function renderFleetStatus(st: NodeStatus[]): string {
  if (st.length === 0) return 'no enrolled nodes';
  const rows = [['node', 'enabled', 'pin', 'report'], ...st.map((s) => [
    s.nodeId,
    s.enabled ? 'yes' : 'no',
    s.pin ? `${s.pin.imageId}@${s.pin.version}` : '-',
    s.report ? `${s.report.status}${s.report.image ? ` ${s.report.image.imageId}@${s.report.image.version}` : ''}${s.report.failure ? ` (${s.report.failure})` : ''} #${s.report.seq}` : '-',
  ])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}
