import type { Command } from 'commander';
import * as up from './up.js';

// One line per command module; each module exports `register(program)`.
const modules: { register(program: Command): void }[] = [up];

export function registerCommands(program: Command): void {
  for (const m of modules) m.register(program);
}
