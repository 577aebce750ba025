// The relay as a process (started by the emulated environment inside a site router namespace):
// `node relay-main.js <config.json>`; prints `ready <port>` once listening; on SIGTERM writes its
// counters next to the config (<config>.counters.json) and exits 0.
import { readFileSync, writeFileSync } from 'node:fs';
import { Relay, relayConfigSchema } from './relay.js';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: relay-main.js <config.json>\n');
  process.exit(2);
}
const relay = new Relay(relayConfigSchema.parse(JSON.parse(readFileSync(file, 'utf8'))));
const port = await relay.start();
process.stdout.write(`ready ${port}\n`);
const stop = () => {
  writeFileSync(`${file}.counters.json`, JSON.stringify(relay.counters));
  void relay.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
