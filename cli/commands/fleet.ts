// `edgeplane fleet publish|enroll|assign|revoke|status`: operator workflows on a running plane
// (OpenStack: Keystone projects as nodes, pins as project tags, images in Glance, keys in
// Barbican), through the plane descriptor's operator.
import { join } from 'node:path';
import type { Command } from 'commander';
import type { FleetNodeStatus, FleetOperator } from '../../adapters/index.js';
import { createLogger } from '../../common/index.js';
import { planes } from '../../planes/index.js';

interface PlaneFlags {
  plane: string;
  state?: string;
  cloud?: string;
  openrc?: string;
  json?: boolean;
}

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

const operators = () => planes.descriptors.filter((d) => d.operator !== undefined).map((d) => d.name);

async function open(f: PlaneFlags): Promise<{ fleet: FleetOperator; stateDir: string; parsePin: (text: string) => { imageId: string; version: string } }> {
  const d = planes.with(f.plane, 'operator', '`edgeplane fleet`');
  const stateDir = f.state ?? d.server?.defaultStateDir ?? '.';
  return { fleet: await d.operator.open(stateDir, { cloud: f.cloud, openrc: f.openrc }), stateDir, parsePin: d.operator.parsePin };
}

export function register(program: Command): void {
  const fleet = program
    .command('fleet')
    .description(`operate a fleet on a running plane (${operators().join(', ')}): publish images, enroll nodes, assign, revoke, status`)
    .addHelpText('after', '\nAll subcommands take --plane P (default the first listed) and --state DIR (the state dir of `edgeplane up <plane>`). Exit codes: 0 ok, 2 bad input, 3 stack missing or a call failed.');
  const common = (c: Command) =>
    c
      .option('--plane <name>', `the plane (${operators().join(', ')})`, operators()[0] ?? 'openstack')
      .option('--state <dir>', "state dir given to `edgeplane up` (default: the plane's)")
      .option('--cloud <name>', 'openstack: a cloud of clouds.yaml (os-client-config search path; default $OS_CLOUD) instead of the local stack')
      .option('--openrc <file>', 'openstack: an openrc file (export OS_AUTH_URL=...) instead of the local stack');

  common(
    fleet
      .command('publish')
      .description('seal (if given a raw image) and publish it with its signed manifest and data key')
      .argument('<image>', 'raw image file, or a sealed directory (manifest.json + chunks/)')
      .requiredOption('--id <id>', 'image id (as in the manifest)')
      .requiredOption('--image-version <v>', 'image version')
      .option('--keys <dir>', 'publisher.key, publisher.pub, data.key (generated here when absent, raw images only)', 'keys')
      .option('--sealed-out <dir>', 'keep the sealed image of a raw input here (default: a temporary folder)')
      .option('--json', 'print JSON'),
  ).action(async (source: string, f: PlaneFlags & { id: string; imageVersion: string; keys: string; sealedOut?: string }) => {
    const { fleet: op, stateDir } = await open(f);
    const logger = createLogger({ file: join(stateDir, 'logs', 'edgeplane-fleet.log') });
    const r = await op.publish({ source, imageId: f.id, version: f.imageVersion, keysDir: f.keys, sealedDir: f.sealedOut, logger });
    if (f.json) return out(JSON.stringify(r.json, null, 2));
    if (r.keysGenerated) out(`generated keys in ${r.keysDir}`);
    out(`published ${f.id}@${f.imageVersion}: ${r.chunks} chunks, ${r.blobBytes} bytes${r.sealed ? ' (sealed here)' : ''}`);
    const width = Math.max(14, ...Object.keys(r.details).map((k) => k.length));
    for (const [k, v] of Object.entries(r.details)) out(`  ${k.padEnd(width)}  ${v}`);
    out(`  ${'assign with'.padEnd(width)}  edgeplane fleet assign ${r.pin.imageId}@${r.pin.version} <node...>${f.plane === operators()[0] ? '' : ` --plane ${f.plane}`}`);
  });

  common(
    fleet
      .command('enroll')
      .description("create each node's identity on the plane; write one agent config per node")
      .argument('<node...>', 'node ids ([a-z0-9-], up to 48 characters)')
      .option('--out <dir>', 'write <node>.agent.yaml here (mode 0600: it holds the node credential)')
      .option('--trust <pem...>', 'publisher public keys the agents accept (paths as the node sees them)', ['publisher.pub'])
      .option('--json', 'print JSON (includes the node credentials)'),
  ).action(async (nodes: string[], f: PlaneFlags & { out?: string; trust: string[] }) => {
    const { fleet: op } = await open(f);
    const enrolled = await op.enroll(nodes, { outDir: f.out, trust: f.trust });
    if (f.json)
      return out(
        JSON.stringify(
          enrolled.map((e) => ({ nodeId: e.nodeId, ...e.details, configFile: e.configFile })),
          null,
          2,
        ),
      );
    for (const e of enrolled) {
      const facts = Object.entries(e.details)
        .map(([k, v]) => `${k} ${v}`)
        .join('  ');
      out(`${e.nodeId.padEnd(20)} ${facts}${e.configFile ? `  config ${e.configFile}` : ''}`);
    }
    if (!f.out) out('(no --out: no agent configs written; the node credentials are not shown)');
  });

  common(
    fleet
      .command('assign')
      .description('pin <image-id>@<version> on the nodes: share the image and manifest, grant the key, set the pin')
      .argument('<assignment>', '<image-id>@<version>')
      .argument('<node...>', 'node ids'),
  ).action(async (assignment: string, nodes: string[], f: PlaneFlags) => {
    const { fleet: op, parsePin } = await open(f);
    for (const p of await op.assign(parsePin(assignment), nodes)) out(`${p.nodeId.padEnd(20)} ${p.pin}`);
  });

  common(fleet.command('revoke').description("disable the nodes' identities (tokens revoked, no new login) and withdraw their image, manifest and key").argument('<node...>', 'node ids')).action(
    async (nodes: string[], f: PlaneFlags) => {
      const { fleet: op } = await open(f);
      for (const n of await op.revoke(nodes)) out(`${n.padEnd(20)} revoked`);
    },
  );

  common(fleet.command('status').description('each enrolled node: enabled, pin and last report').argument('[node...]', 'only these nodes (default: every enrolled node)').option('--json', 'print JSON')).action(
    async (nodes: string[], f: PlaneFlags) => {
      const { fleet: op } = await open(f);
      const st = await op.status(nodes);
      if (f.json) return out(JSON.stringify(st, null, 2));
      out(renderFleetStatus(st));
    },
  );
}

export function renderFleetStatus(st: FleetNodeStatus[]): string {
  if (st.length === 0) return 'no enrolled nodes';
  const rows = [
    ['node', 'enabled', 'pin', 'report'],
    ...st.map((s) => [
      s.nodeId,
      s.enabled ? 'yes' : 'no',
      s.pin ? `${s.pin.imageId}@${s.pin.version}` : '-',
      s.report ? `${s.report.status}${s.report.image ? ` ${s.report.image.imageId}@${s.report.image.version}` : ''}${s.report.failure ? ` (${s.report.failure})` : ''} #${s.report.seq}` : '-',
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}
