// Structured logs: JSON lines to a file (pino), and with `verbose` also on stderr
// (pretty-printed on a TTY, JSON otherwise).
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import pino, { type Logger } from 'pino';

export type { Logger };

const require = createRequire(import.meta.url);

export function createLogger(opts: { file?: string; verbose?: boolean } = {}): Logger {
  const streams: pino.StreamEntry[] = [];
  if (opts.file) {
    mkdirSync(dirname(opts.file), { recursive: true });
    streams.push({ level: 'debug', stream: pino.destination({ dest: opts.file, sync: true }) });
  }
  if (opts.verbose) {
    streams.push({ level: 'debug', stream: process.stderr.isTTY ? prettyStderr() : pino.destination(2) });
  }
  if (streams.length === 0) return silentLogger;
  return pino({ level: 'debug', base: undefined }, pino.multistream(streams));
}

function prettyStderr(): pino.DestinationStream {
  // In-process pino-pretty stream (no worker thread), so nothing is lost when the CLI exits.
  const pretty = require('pino-pretty') as (o: object) => pino.DestinationStream;
  return pretty({ destination: 2, colorize: true, sync: true });
}

/** A logger that drops everything (library code defaults to it). */
export const silentLogger: Logger = pino({ level: 'silent' });
