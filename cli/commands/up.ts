// `edgeplane up|down|status <plane>`: start, stop and inspect a plane's local server (a real
// stack launcher or an emulator), through the plane's descriptor. Plane-specific flags come from
// the descriptor too.
import { type Command, Option } from 'commander';
import { createLogger, EXIT, InputError } from '../../common/index.js';
import { planes } from '../../planes/index.js';
import { flagParser } from '../options.js';

const withServers = () => planes.descriptors.filter((d) => d.server !== undefined);
const defaultPlane = () => withServers()[0]?.name ?? 'openstack';
const stateHelp = () =>
  `where configs, data, logs and pid files live (default: ${withServers()
    .map((d) => `${d.name}: ${d.server!.defaultStateDir}`)
    .join('; ')})`;

export function register(program: Command): void {
  const up = program
    .command('up')
    .description(
      `start a plane's local server (${withServers()
        .map((d) => d.server!.summary)
        .join('; ')})`,
    )
    .argument(
      '[plane]',
      `control plane to start (${withServers()
        .map((d) => d.name)
        .join(', ')})`,
      defaultPlane(),
    )
    .option('--state <dir>', stateHelp())
    .option('-v, --verbose', 'log each step on stderr');
  // every plane's own flags; a plane rejects the flags of another one
  const owners = new Map<string, string>();
  for (const d of withServers()) {
    for (const f of d.server!.upFlags) {
      const option = new Option(f.flags, f.description);
      if (f.parse) option.argParser(flagParser(f.parse));
      up.addOption(option);
      owners.set(option.attributeName(), d.name);
    }
  }
  up.addHelpText('after', '\nRoot installs missing Debian packages; others get the exact apt-get command. Idempotent: a running stack is left as is.');
  up.action(async (plane: string, flags: { state?: string; verbose?: boolean } & Record<string, unknown>) => {
    const d = planes.with(plane, 'server', '`edgeplane up`');
    const server = d.server;
    const own: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(flags)) {
      if (key === 'state' || key === 'verbose' || value === undefined) continue;
      const owner = owners.get(key);
      if (owner !== plane) throw new InputError(`--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is a flag of \`up ${owner}\`, not of \`up ${plane}\``);
      own[key] = value;
    }
    const stateDir = flags.state ?? server.defaultStateDir;
    const logger = createLogger({ file: `${stateDir}/logs/edgeplane-up.log`, verbose: flags.verbose });
    const lines = await server.up({ stateDir, flags: own, logger, onProgress: (m) => process.stderr.write(`${m}\n`) });
    process.stdout.write(`${lines.join('\n')}\n`);
  });

  program
    .command('down')
    .description('stop exactly the processes `edgeplane up` started (by pid); data stays in the state dir')
    .argument('[plane]', 'control plane', defaultPlane())
    .option('--state <dir>', 'state dir given to `up`')
    .action(async (plane: string, flags: { state?: string }) => {
      const { server } = planes.with(plane, 'server', '`edgeplane down`');
      const stateDir = flags.state ?? server.defaultStateDir;
      const stopped = await server.down(stateDir);
      if (stopped.length === 0) process.stdout.write(`nothing to stop in ${stateDir}\n`);
      for (const s of stopped) process.stdout.write(`${s.name.padEnd(9)} pid ${String(s.pid ?? '-').padEnd(8)} ${s.result}\n`);
    });

  program
    .command('status')
    .description("show a plane's local server: processes, health, endpoints (exit 3 when not all healthy)")
    .argument('[plane]', 'control plane', defaultPlane())
    .option('--state <dir>', 'state dir given to `up`')
    .option('--json', 'print JSON')
    .action(async (plane: string, flags: { state?: string; json?: boolean }) => {
      const { server } = planes.with(plane, 'server', '`edgeplane status`');
      const st = await server.status(flags.state ?? server.defaultStateDir);
      process.stdout.write(flags.json ? `${JSON.stringify(st.json, null, 2)}\n` : st.text);
      process.exitCode = st.healthy ? EXIT.OK : EXIT.ENVIRONMENT;
    });
}
