// Signed manifests are checked against their chunking parameters and sane limits before anything
// is allocated or written; `image seal` checks every flag before it writes a chunk (issue 14, item 5).
import { sign } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as imageCommand from '../../../cli/commands/image.js';
import { EdgeplaneError, EXIT, InputError } from '../../../common/index.js';
import { CHUNK_OVERHEAD, CIPHER_PARAMS, generateDataKey, generatePublisherKeys, MANIFEST_FILE, MANIFEST_PAYLOAD_TYPE, openImage, publicKeyId, sealImage, toPublicKey, verifyManifest } from '../../../pipeline/index.js';
import { createPrivateKey } from 'node:crypto';
import { bytes, tempDir, writeTemp } from './helpers.js';

const { privateKeyPem, publicKeyPem } = generatePublisherKeys();
const signingKey = createPrivateKey(privateKeyPem);
const HEX64 = 'ab'.repeat(32);

/** Signs any payload as the publisher would, bypassing the manifest schema (a hostile publisher key). */
function signRaw(manifest: unknown): Buffer {
  const payload = Buffer.from(JSON.stringify(manifest), 'utf8');
  const type = Buffer.from(MANIFEST_PAYLOAD_TYPE);
  const pae = Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
  const sig = sign(null, pae, signingKey);
  return Buffer.from(JSON.stringify({ payloadType: MANIFEST_PAYLOAD_TYPE, payload: payload.toString('base64'), signatures: [{ keyid: publicKeyId(signingKey), sig: sig.toString('base64') }] }));
}

function manifestWith(chunks: { plainSize: number }[], chunking: unknown = { algorithm: 'fixed', size: 4 * 2 ** 20 }) {
  const total = chunks.reduce((s, c) => s + c.plainSize, 0);
  return {
    format: 'edgeplane-image-manifest',
    formatVersion: 1,
    imageId: 'app',
    version: '1',
    plaintext: { size: total, sha256: HEX64 },
    chunking,
    cipher: { ...CIPHER_PARAMS, keyCheck: 'cd'.repeat(16) },
    keyRef: 'file:app.key',
    chunks: chunks.map((c, index) => ({ index, digest: HEX64, size: c.plainSize + CHUNK_OVERHEAD, plainSize: c.plainSize })),
  };
}

function refusal(f: () => unknown): InputError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).exitCode).toBe(EXIT.INVALID_INPUT);
    return err as InputError;
  }
  throw new Error('expected a refusal');
}

afterEach(() => vi.restoreAllMocks());

describe('a signed manifest is checked before it is trusted', () => {
  it('refuses a chunk claiming 10^15 bytes before allocating anything for it', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'chunks'));
    await writeFile(join(dir, MANIFEST_FILE), signRaw(manifestWith([{ plainSize: 1e15 }])));
    const allocations: number[] = [];
    const realAllocUnsafe = Buffer.allocUnsafe.bind(Buffer);
    vi.spyOn(Buffer, 'allocUnsafe').mockImplementation((n: number) => {
      allocations.push(n);
      return realAllocUnsafe(n);
    });
    const out = join(dir, 'opened.img');
    const err = await openImage({ sealedDir: dir, dataKey: generateDataKey(), trustedPublicKeys: [publicKeyPem], outPath: out }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).exitCode).toBe(EXIT.INVALID_INPUT);
    expect((err as Error).message).toMatch(/^tampered or invalid manifest: .*chunks\.0\.plainSize: chunk 0: 1000000000000000 bytes; fixed chunking makes chunks of 4194304 bytes/);
    expect(allocations.filter((n) => n > 2 ** 28)).toEqual([]);
    expect(existsSync(`${out}.partial`)).toBe(false);
    expect(existsSync(out)).toBe(false);
  });

  it.each([
    ['a chunk over the chunking max', manifestWith([{ plainSize: 4 * 2 ** 20 + 1 }]), /chunks\.0\.plainSize: .*4194304 bytes/],
    ['a short chunk before the last', manifestWith([{ plainSize: 10 }, { plainSize: 4 * 2 ** 20 }]), /chunks\.0\.plainSize/],
    ['an empty chunk', manifestWith([{ plainSize: 0 }]), /chunks\.0\.plainSize/],
    ['chunking parameters out of range', manifestWith([{ plainSize: 10 }], { algorithm: 'fixed', size: 2 ** 40 }), /chunking: invalid chunking: chunk size/],
    ['an image over 1 TiB', manifestWith([{ plainSize: 10 }, { plainSize: 10 }]), /plaintext\.size/, (m: ReturnType<typeof manifestWith>) => ({ ...m, plaintext: { ...m.plaintext, size: 2 ** 41 } })],
    ['a malformed digest', manifestWith([{ plainSize: 10 }]), /chunks\.0\.digest/, (m: ReturnType<typeof manifestWith>) => ({ ...m, chunks: [{ ...m.chunks[0], digest: 'XYZ' }] })],
    ['an offset gap (index out of order)', manifestWith([{ plainSize: 10 }]), /chunks\.0\.index/, (m: ReturnType<typeof manifestWith>) => ({ ...m, chunks: [{ ...m.chunks[0], index: 5 }] })],
    ['a key reference of 2,000 characters', manifestWith([{ plainSize: 10 }]), /keyRef: key reference is 2000 characters/, (m: ReturnType<typeof manifestWith>) => ({ ...m, keyRef: 'k'.repeat(2000) })],
  ] as const)('refuses %s', (_what, base, message, change?: (m: ReturnType<typeof manifestWith>) => unknown) => {
    const m = change ? change(base) : base;
    const err = refusal(() => verifyManifest(signRaw(m), [toPublicKey(publicKeyPem)]));
    expect(err.message).toMatch(/^tampered or invalid manifest: /);
    expect(err.message).toMatch(message);
  });
});

describe('image seal checks every flag before writing a chunk', () => {
  async function cli(args: string[]): Promise<{ code: number; message?: string }> {
    const program = new Command('edgeplane').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
    imageCommand.register(program);
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      await program.parseAsync(args, { from: 'user' });
      return { code: 0 };
    } catch (err) {
      if (err instanceof EdgeplaneError) return { code: err.exitCode, message: err.message };
      if ((err as { code?: string }).code?.startsWith('commander.')) return { code: 2, message: (err as Error).message };
      throw err;
    }
  }

  it.each([
    ['a 2,000-character --key-ref', ['--key-ref', 'r'.repeat(2000)], /invalid key reference "r{30}…": it is 2000 characters; at most 1024/],
    ['an empty --key-ref', ['--key-ref', ''], /invalid key reference "": it is empty/],
    ['a --key-ref with a control character', ['--key-ref', 'a\nb'], /printable ASCII/],
    ['a bad --id', ['--id', '../x', '--image-version', '1'], /--id "\.\.\/x" is not a valid name/],
    ['a bad --image-version', ['--id', 'app', '--image-version', 'v 1'], /--image-version "v 1" is not a valid name/],
    ['a --chunk-size below the chunking minimum', ['--chunk-size', '1KiB'], /invalid chunking: chunk size 1024/],
  ])('refuses %s with exit 2 and an empty out dir', async (_what, flags, message) => {
    const work = await tempDir();
    const keys = join(work, 'keys');
    await mkdir(keys);
    await writeFile(join(keys, 'publisher.key'), privateKeyPem);
    await writeFile(join(keys, 'data.key'), generateDataKey());
    const image = await writeTemp(work, 'image.img', bytes(64 * 1024));
    const out = join(work, 'sealed');
    await mkdir(out);
    const r = await cli(['image', 'seal', image, '--out', out, '--signing-key', join(keys, 'publisher.key'), '--data-key', join(keys, 'data.key'), '--id', 'app', '--image-version', '1', ...flags]);
    expect(r.code).toBe(EXIT.INVALID_INPUT);
    expect(r.message).toMatch(message);
    expect(await readdir(out)).toEqual([]);
  });

  it('sealImage itself refuses a bad key reference before preparing the directory', async () => {
    const work = await tempDir();
    const imagePath = await writeTemp(work, 'image.img', bytes(8192));
    const outDir = join(work, 'sealed');
    const err = await sealImage({ imagePath, outDir, imageId: 'app', version: '1', dataKey: generateDataKey(), signingKey, keyRef: 'x'.repeat(2000) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(existsSync(outDir)).toBe(false);
  });
});
