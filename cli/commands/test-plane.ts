// `edgeplane test-plane serve|publish|assign`: a local TEST PLANE (a directory served over HTTP
// on loopback) to point agents at in tests and local runs. It is not a control plane. The one CLI
// module that reaches into a plane folder: the test plane's own commands.
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { createLogger, InputError } from '../../common/index.js';
import { assignInTestPlane, parseImageRef, publishToTestPlane, TestPlaneServer } from '../../control-test-plane/index.js';
import { readDataKey, readPublicKey } from '../../pipeline/index.js';
import { collect, integerOption, say } from '../options.js';
import { untilSignal } from '../signals.js';

export function register(program: Command): void {
  const plane = program.command('test-plane').description('a local TEST PLANE for agents in tests and local runs (not a control plane)');

  plane
    .command('serve')
    .description('serve a test-plane directory over HTTP until interrupted')
    .requiredOption('--dir <dir>', 'test-plane directory')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port (0: any free port)', integerOption('--port', 0), 0)
    .option('--verbose', 'also log to stderr')
    .option('--until-stdin-closes', 'also stop when standard input closes (a parent that holds it open: the server goes with it, even when the parent is killed)')
    .action(async (f: { dir: string; host: string; port: number; verbose?: boolean; untilStdinCloses?: boolean }) => {
      const dir = resolve(f.dir);
      const log = createLogger({ file: join(dir, 'test-plane.log'), verbose: f.verbose });
      const server = new TestPlaneServer({ dir, host: f.host, port: f.port, logger: log, rangeLogFile: join(dir, 'ranges.ndjson') });
      say(`test plane serving ${dir} at ${await server.start()}`);
      const stdinClosed = new Promise<void>((r) => {
        if (!f.untilStdinCloses) return;
        process.stdin.on('end', () => r()).on('close', () => r());
        process.stdin.resume();
      });
      await Promise.race([untilSignal(), stdinClosed]);
      await server.close();
    });

  plane
    .command('publish <sealed-dir>')
    .description('publish a sealed image and its data key into a test-plane directory')
    .requiredOption('--dir <dir>', 'test-plane directory')
    .requiredOption('--data-key <file>', "the image's 32-byte data key")
    .requiredOption('--trust <pem>', 'publisher public key the manifest must verify against (repeatable)', collect, [])
    .action(async (sealedDir: string, f: { dir: string; dataKey: string; trust: string[] }) => {
      const trusted = await Promise.all(f.trust.map(readPublicKey));
      const r = await publishToTestPlane({ dir: resolve(f.dir), sealedDir, dataKey: await readDataKey(f.dataKey), trusted });
      say(`published ${r.ref}: ${r.manifest.chunks.length} chunks, blob ${r.blobBytes} bytes`);
    });

  plane
    .command('assign')
    .description('enroll a node (prints its token) and set or clear its pinned image')
    .requiredOption('--dir <dir>', 'test-plane directory')
    .requiredOption('--node <name>', 'node name')
    .option('--image <id@version>', 'the image the node must run')
    .option('--clear', 'unassign the node')
    .option('--token <token>', 'set the node token (default: keep it, or a fresh random one)')
    .action(async (f: { dir: string; node: string; image?: string; clear?: boolean; token?: string }) => {
      if (f.image && f.clear) throw new InputError('give --image or --clear, not both');
      let pin: { imageId: string; version: string } | null | undefined;
      if (f.clear) pin = null;
      else if (f.image !== undefined) {
        pin = parseImageRef(f.image);
        if (pin === null) throw new InputError(`--image takes <id>@<version>, got "${f.image}"`);
      }
      const record = await assignInTestPlane({ dir: resolve(f.dir), node: f.node, pin, token: f.token });
      say(`node ${f.node}: ${record.pin ? `${record.pin.imageId}@${record.pin.version}` : 'nothing assigned'}; token ${record.token}`);
    });
}
