import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT, InputError, readInputFile, readInputText } from '../../../common/index.js';

const dir = mkdtempSync(join(tmpdir(), 'edgeplane-input-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const opts = { what: 'scenario', maxBytes: 1024 };

async function refusal(p: Promise<unknown>): Promise<InputError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InputError);
  expect((err as InputError).exitCode).toBe(EXIT.INVALID_INPUT);
  return err as InputError;
}

describe('readInputFile', () => {
  it('reads a regular file under the limit', async () => {
    const path = join(dir, 'ok.yaml');
    writeFileSync(path, 'name: x\n');
    expect(await readInputText(path, opts)).toBe('name: x\n');
  });

  it('refuses a FIFO at once instead of blocking', async () => {
    const fifo = join(dir, 'pipe.yaml');
    execFileSync('mkfifo', [fifo]);
    const started = Date.now();
    const err = await refusal(readInputFile(fifo, opts));
    expect(err.message).toBe(`scenario ${fifo} is a FIFO (named pipe); expected a regular file`);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('refuses /dev/zero without reading it', async () => {
    const err = await refusal(readInputFile('/dev/zero', opts));
    expect(err.message).toBe('scenario /dev/zero is a character device; expected a regular file');
  });

  it('refuses a directory', async () => {
    const err = await refusal(readInputFile(dir, opts));
    expect(err.message).toBe(`scenario ${dir} is a directory; expected a regular file`);
  });

  it('refuses a file over the limit, naming the file and the limit', async () => {
    const big = join(dir, 'big.yaml');
    writeFileSync(big, Buffer.alloc(1025, 0x61));
    const err = await refusal(readInputFile(big, opts));
    expect(err.message).toBe(`scenario ${big} is too large: 1,025 bytes; the limit is 1 KiB`);
  });

  it('says a missing file is missing', async () => {
    const err = await refusal(readInputFile(join(dir, 'nope.yaml'), opts));
    expect(err.message).toBe(`cannot read scenario ${join(dir, 'nope.yaml')}: no such file`);
  });
});
