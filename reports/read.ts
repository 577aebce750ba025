// Reading results files (NDJSON): one Sample per line, plus `{"type":"meta"}` lines.
import { INPUT_LIMITS, InputError, InputFileError, openInputFile } from '../common/index.js';
import { MetaSchema, type Meta } from './meta.js';
import { SampleSchema, type Sample } from './sample.js';

export interface Results {
  samples: Sample[];
  metas: Meta[];
}

/** At most this many bad lines are listed; more are counted. */
const MAX_REPORTED_ERRORS = 10;

/**
 * Reads and validates results files. Every sample gets `labels.source` = the path it came from
 * (unless it already has one), so a report can tell runs, machines or versions apart.
 * Throws InputError naming `file:line` for every malformed line, and for a missing file.
 */
export async function readResults(paths: string[]): Promise<Results> {
  if (paths.length === 0) throw new InputError('no results files given');
  const out: Results = { samples: [], metas: [] };
  const errors: string[] = [];
  let errorCount = 0;
  for (const path of paths) {
    let lineNo = 0;
    for await (const raw of readLines(path)) {
      lineNo++;
      const line = raw.trim();
      if (line === '') continue;
      const problem = parseLine(line, path, out);
      if (problem) {
        errorCount++;
        if (errors.length < MAX_REPORTED_ERRORS) errors.push(`${path}:${lineNo}: ${problem}`);
      }
    }
  }
  if (errorCount > 0) {
    const more = errorCount > errors.length ? [`... and ${errorCount - errors.length} more`] : [];
    throw new InputError(`${errors[0]}${errorCount > 1 ? ` (${errorCount} malformed lines)` : ''}`, [...errors.slice(1), ...more]);
  }
  return out;
}

/** The lines of a results file, streamed: a regular file of at most INPUT_LIMITS.results bytes. */
async function* readLines(path: string): AsyncGenerator<string> {
  let opened: Awaited<ReturnType<typeof openInputFile>>;
  try {
    opened = await openInputFile(path, { what: 'results file', maxBytes: INPUT_LIMITS.results });
  } catch (err) {
    if (err instanceof InputFileError && err.problem === 'missing') throw new InputError(`${path}: no such results file`);
    throw err;
  }
  const { handle } = opened;
  try {
    // readLines closes the handle when it has read the file; the bound was checked on the open descriptor
    for await (const line of handle.readLines({ encoding: 'utf8', end: INPUT_LIMITS.results - 1 })) yield line;
  } catch (err) {
    throw new InputError(`${path}: cannot read: ${(err as Error).message}`);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** Adds the line's sample or meta to `out`; returns a description of what is wrong, if anything. */
function parseLine(line: string, path: string, out: Results): string | undefined {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (err) {
    return `not valid JSON (${(err as Error).message})`;
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return 'expected a JSON object';
  if ((json as { type?: unknown }).type === 'meta') {
    const meta = MetaSchema.safeParse(json);
    if (!meta.success) return `invalid meta line: ${describe(meta.error)}`;
    out.metas.push({ ...meta.data, source: meta.data.source ?? path });
    return undefined;
  }
  const sample = SampleSchema.safeParse(json);
  if (!sample.success) return `invalid sample: ${describe(sample.error)}`;
  const s = sample.data;
  if (s.labels.source === undefined) s.labels.source = path;
  out.samples.push(s);
  return undefined;
}

function describe(error: { issues: { path: PropertyKey[]; message: string }[] }): string {
  return error.issues
    .slice(0, 3)
    .map((i) => (i.path.length ? `${i.path.map(String).join('.')}: ${i.message}` : i.message))
    .join('; ');
}
