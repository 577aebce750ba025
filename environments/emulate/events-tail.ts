// An agent's events.ndjson, read incrementally: each poll reads only what was appended since the
// last one (a fleet of hundreds of agents is polled every 250 ms; re-reading and re-parsing every
// whole file each time cost the emulation's own process more CPU than the agents' work).
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { parseAgentEvents, type AgentEventLine } from '../../reports/index.js';

export class EventsTail {
  readonly lines: AgentEventLine[] = [];
  private offset = 0;
  /** bytes after the last newline read (a line being written; cut on a byte, not a character) */
  private partial: Buffer = Buffer.alloc(0);

  constructor(readonly path: string) {}

  /** Reads the lines appended since the last call (none if the file does not exist yet); returns them. */
  poll(): AgentEventLine[] {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      return [];
    }
    try {
      const size = fstatSync(fd).size;
      if (size <= this.offset) return [];
      const buf = Buffer.allocUnsafe(size - this.offset);
      const n = readSync(fd, buf, 0, buf.length, this.offset);
      this.offset += n;
      const bytes = Buffer.concat([this.partial, buf.subarray(0, n)]);
      const end = bytes.lastIndexOf(0x0a) + 1;
      this.partial = Buffer.from(bytes.subarray(end));
      const fresh = parseAgentEvents(bytes.toString('utf8', 0, end));
      for (const l of fresh) this.lines.push(l);
      return fresh;
    } finally {
      closeSync(fd);
    }
  }
}
