#!/usr/bin/env node
// The `edgeplane` command. Each subcommand lives in cli/commands/<name>.ts and registers itself.
import { Command, CommanderError } from 'commander';
import { EdgeplaneError, EXIT } from '../common/index.js';
import { registerCommands } from './commands/index.js';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('edgeplane')
    .description('Deterministic VM image distribution testbed: OpenStack vs OpenNebula vs CloudStack on edge KVM fleets')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', '\nExit codes: 0 ok, 1 an SLA or gate check failed, 2 bad usage or invalid input, 3 environment error.');
  registerCommands(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.OK;
  } catch (err) {
    return reportError(err);
  }
}

function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // help and version "errors" are normal exits; usage errors were already printed by commander
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.OK;
    return EXIT.INVALID_INPUT;
  }
  if (err instanceof EdgeplaneError) {
    process.stderr.write(`edgeplane: ${err.message}\n`);
    for (const d of err.details) process.stderr.write(`  ${d}\n`);
    return err.exitCode;
  }
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string' && ['ENOENT', 'EACCES', 'EISDIR', 'ENOTDIR'].includes(e.code)) {
    process.stderr.write(`edgeplane: ${e.message}\n`);
    return EXIT.INVALID_INPUT;
  }
  process.stderr.write(`edgeplane: internal error: ${e?.message ?? String(err)}\n`);
  if (process.env.EDGEPLANE_DEBUG) process.stderr.write(`${e?.stack}\n`);
  return EXIT.ENVIRONMENT;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`edgeplane: ${String(err)}\n`);
    process.exit(EXIT.ENVIRONMENT);
  },
);
