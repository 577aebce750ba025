import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkOutputFile, createLineWriter, EdgeplaneError, EXIT, MAX_FOLDER_NAME_BYTES, openOutput, outputError, safeFolderName, writeOutputFile } from '../../../common/index.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'edgeplane-output-'));
const what = 'output folder';

/** The exit code of what fn throws (it must throw an EdgeplaneError, quickly). */
function exitOf(fn: () => unknown): number {
  const started = performance.now();
  try {
    fn();
  } catch (err) {
    expect(performance.now() - started).toBeLessThan(2000);
    expect(err).toBeInstanceOf(EdgeplaneError);
    return (err as EdgeplaneError).exitCode;
  }
  throw new Error('expected an error');
}

describe('safeFolderName', () => {
  it('keeps ordinary names', () => {
    for (const n of ['default', 'rollout-10k', 'delta_update.v2', 'Überprüfung', '部署']) expect(safeFolderName(n)).toBe(n);
  });

  it('never traverses, never has a separator, control character or NUL', () => {
    for (const n of ['../escaped', '..', '.', '/etc/passwd', 'a/../../b', '..\\..\\win', 'a\0b', 'tab\there', 'line\nbreak', '\u001b[31mred', ' spaced out ', '.hidden']) {
      const s = safeFolderName(n);
      expect(s).not.toMatch(/[/\\\0\p{Cc}]/u);
      expect(s.startsWith('.')).toBe(false);
      expect(s).not.toBe('..');
      expect(s.length).toBeGreaterThan(0);
    }
    expect(safeFolderName('../escaped')).toBe('escaped');
    expect(safeFolderName('a\0b')).toBe('a-b');
    expect(safeFolderName('my rollout')).toBe('my-rollout');
  });

  it('bounds the length (UTF-8 bytes), keeps long names apart, is stable', () => {
    const long = 'x'.repeat(300);
    const s = safeFolderName(long);
    expect(Buffer.byteLength(s)).toBeLessThanOrEqual(MAX_FOLDER_NAME_BYTES);
    expect(safeFolderName(long)).toBe(s);
    expect(safeFolderName(`${'x'.repeat(299)}y`)).not.toBe(s);
    expect(Buffer.byteLength(safeFolderName('部'.repeat(300)))).toBeLessThanOrEqual(MAX_FOLDER_NAME_BYTES);
  });

  it('gives the fallback for names with nothing left', () => {
    expect(safeFolderName('')).toBe('scenario');
    expect(safeFolderName('../..')).toBe('scenario');
    expect(safeFolderName('///', 'x')).toBe('x');
  });
});

describe('openOutput refuses bad locations at once', () => {
  it('NUL, /proc, /sys, /dev, an existing file: exit 2', () => {
    const d = tmp();
    writeFileSync(join(d, 'file'), 'x');
    for (const p of ['/tmp/a\0b', '/proc', '/proc/x', '/proc/self/fd/x', '/sys/x', '/dev/null', '/dev/shm/x', join(d, 'file'), join(d, 'file', 'below'), '/']) {
      expect(
        exitOf(() => openOutput(p, { what })),
        p,
      ).toBe(EXIT.INVALID_INPUT);
    }
  });

  it('a 300-character folder name: exit 2 (ENAMETOOLONG), not an internal error', () => {
    expect(exitOf(() => openOutput(join(tmp(), 'n'.repeat(300)), { what }))).toBe(EXIT.INVALID_INPUT);
  });

  it('a symbolic link into /proc: exit 2', async () => {
    const { symlinkSync } = await import('node:fs');
    const d = tmp();
    symlinkSync('/proc', join(d, 'p'));
    expect(exitOf(() => openOutput(join(d, 'p', 'x'), { what }))).toBe(EXIT.INVALID_INPUT);
  });

  it('an entry of the wrong kind where the command writes: exit 2, nothing touched', () => {
    const d = join(tmp(), 'out');
    mkdirSync(join(d, 'index.html'), { recursive: true });
    writeFileSync(join(d, 'results.ndjson'), 'good\n');
    expect(exitOf(() => openOutput(d, { what, owns: { 'index.html': 'file', 'results.ndjson': 'file' } }))).toBe(EXIT.INVALID_INPUT);
    expect(readFileSync(join(d, 'results.ndjson'), 'utf8')).toBe('good\n');
    expect(readdirSync(join(d, '..'))).toEqual(['out']);
  });

  it('a read-only folder: exit 2 naming the path', () => {
    const d = tmp();
    const ro = join(d, 'ro');
    mkdirSync(ro);
    chmodSync(ro, 0o555);
    if (process.getuid?.() === 0) {
      // root writes anyway: check the mapping the CLI would apply
      const err = outputError(Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' }), join(ro, 'x'), what);
      expect(err.exitCode).toBe(EXIT.INVALID_INPUT);
      expect(err.message).toContain(join(ro, 'x'));
    } else {
      expect(exitOf(() => openOutput(join(ro, 'x'), { what }))).toBe(EXIT.INVALID_INPUT);
    }
  });

  it('maps OS errors to the documented exit codes, naming the path', () => {
    const e = (code: string) => outputError(Object.assign(new Error(code), { code }), '/some/where', what);
    for (const c of ['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EEXIST', 'EISDIR', 'ENAMETOOLONG', 'ELOOP', 'ENOENT']) expect(e(c).exitCode, c).toBe(EXIT.INVALID_INPUT);
    for (const c of ['ENOSPC', 'EDQUOT', 'EIO', 'EMFILE', 'EWHATEVER']) expect(e(c).exitCode, c).toBe(EXIT.ENVIRONMENT);
    expect(e('ENOSPC').message).toBe('cannot write output folder /some/where: no space left on device (ENOSPC)');
  });
});

describe('openOutput stages and commits', () => {
  it('writes into a staging sibling; commit moves it into place', () => {
    const d = tmp();
    const out = openOutput(join(d, 'a', 'b', 'out'), { what });
    expect(out.staging.startsWith(join(d, 'a', 'b'))).toBe(true);
    writeFileSync(out.path('results.ndjson'), 'x\n');
    expect(existsSync(join(d, 'a', 'b', 'out'))).toBe(false);
    expect(out.final(out.path('results.ndjson'))).toBe(join(d, 'a', 'b', 'out', 'results.ndjson'));
    out.commit();
    expect(readdirSync(join(d, 'a', 'b'))).toEqual(['out']);
    expect(readFileSync(join(d, 'a', 'b', 'out', 'results.ndjson'), 'utf8')).toBe('x\n');
  });

  it('replaces an older output folder only when the new one is complete', () => {
    const d = tmp();
    const dir = join(d, 'out');
    const owns = { 'results.ndjson': 'file', charts: 'dir' } as const;
    mkdirSync(join(dir, 'charts'), { recursive: true });
    writeFileSync(join(dir, 'results.ndjson'), 'old\n');
    writeFileSync(join(dir, 'charts', 'old.svg'), 'old');
    const out = openOutput(dir, { what, owns });
    writeFileSync(out.path('results.ndjson'), 'new\n');
    // until commit, the old output is untouched
    expect(readFileSync(join(dir, 'results.ndjson'), 'utf8')).toBe('old\n');
    out.commit();
    expect(readFileSync(join(dir, 'results.ndjson'), 'utf8')).toBe('new\n');
    expect(existsSync(join(dir, 'charts'))).toBe(false);
    expect(readdirSync(d)).toEqual(['out']);
  });

  it('keeps files it does not own in an existing folder (entry by entry)', () => {
    const d = tmp();
    writeFileSync(join(d, 'results.ndjson'), 'theirs\n');
    writeFileSync(join(d, 'index.html'), 'old');
    const out = openOutput(d, { what, owns: { 'index.html': 'file' } });
    writeFileSync(out.path('index.html'), 'new');
    out.commit();
    expect(readFileSync(join(d, 'results.ndjson'), 'utf8')).toBe('theirs\n');
    expect(readFileSync(join(d, 'index.html'), 'utf8')).toBe('new');
    expect(readdirSync(d).sort()).toEqual(['index.html', 'results.ndjson']);
  });

  it('abort keeps the partial folder under a clear name and leaves the good output alone', () => {
    const d = tmp();
    const dir = join(d, 'out');
    mkdirSync(dir);
    writeFileSync(join(dir, 'results.ndjson'), 'good\n');
    const out = openOutput(dir, { what, owns: { 'results.ndjson': 'file' } });
    writeFileSync(out.path('results.ndjson'), 'half');
    const kept = out.abort();
    expect(kept).toBe(join(d, `out.partial-${process.pid}`));
    expect(readFileSync(join(kept!, 'results.ndjson'), 'utf8')).toBe('half');
    expect(readFileSync(join(dir, 'results.ndjson'), 'utf8')).toBe('good\n');
    expect(readdirSync(d).sort()).toEqual(['out', `out.partial-${process.pid}`]);
  });

  it('abort with nothing written and discard leave nothing behind', () => {
    const d = tmp();
    openOutput(join(d, 'out'), { what }).discard();
    expect(openOutput(join(d, 'out'), { what }).abort()).toBeNull();
    expect(readdirSync(d)).toEqual([]);
  });
});

describe('output files', () => {
  it('writeOutputFile writes through a temp file and refuses bad paths', () => {
    const d = tmp();
    const f = join(d, 'sub', 'gate.md');
    expect(writeOutputFile(f, 'a', { what: '--markdown file' })).toBe(f);
    writeOutputFile(f, 'b', { what: '--markdown file' });
    expect(readFileSync(f, 'utf8')).toBe('b');
    expect(readdirSync(join(d, 'sub'))).toEqual(['gate.md']);
    for (const p of [d, '/dev/null', '/proc/x', '/sys/x', join(f, 'below'), 'a\0b'])
      expect(
        exitOf(() => checkOutputFile(p, { what: 'file' })),
        p,
      ).toBe(EXIT.INVALID_INPUT);
  });

  it('createLineWriter writes every line, in batches', () => {
    const d = tmp();
    const w = createLineWriter(join(d, 'r.ndjson'), { what: 'results file', batchBytes: 10 });
    for (let i = 0; i < 100; i++) w.line(`{"i":${i}}`);
    expect(w.lines).toBe(100);
    w.close();
    w.close();
    expect(readFileSync(join(d, 'r.ndjson'), 'utf8')).toBe(`${Array.from({ length: 100 }, (_, i) => `{"i":${i}}`).join('\n')}\n`);
  });
});
