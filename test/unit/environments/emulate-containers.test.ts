// The container runtime's pure parts: engine addresses, and container logs demultiplexed.
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../common/index.js';
import { demuxLogs, parseEngine } from '../../../environments/containers/index.js';

describe('engine endpoints', () => {
  it('takes unix sockets (on this machine), tcp:// as http, http(s):// with default ports', () => {
    expect(parseEngine('unix:///run/podman/podman.sock')).toEqual({ url: 'unix:///run/podman/podman.sock', connection: { socketPath: '/run/podman/podman.sock' }, local: true });
    expect(parseEngine('tcp://10.0.0.5:2375').connection).toEqual({ protocol: 'http', host: '10.0.0.5', port: 2375 });
    expect(parseEngine('tcp://10.0.0.5').connection).toEqual({ protocol: 'http', host: '10.0.0.5', port: 2375 });
    expect(parseEngine('https://docker.example:2376')).toMatchObject({ connection: { protocol: 'https', host: 'docker.example', port: 2376 }, local: false });
  });

  it('refuses relative sockets and other schemes with a usage error', () => {
    expect(() => parseEngine('unix://podman.sock')).toThrow(InputError);
    expect(() => parseEngine('ssh://host')).toThrow(/unix:\/\/, tcp:\/\//);
    expect(() => parseEngine('not a url')).toThrow(InputError);
  });
});

describe('container logs', () => {
  it('strips the 8-byte frame headers of a non-TTY log, whatever the stream', () => {
    const frame = (stream: number, text: string) => {
      const body = Buffer.from(text);
      const head = Buffer.alloc(8);
      head[0] = stream;
      head.writeUInt32BE(body.length, 4);
      return Buffer.concat([head, body]);
    };
    expect(demuxLogs(Buffer.concat([frame(2, 'edgeplane: '), frame(1, 'out '), frame(2, 'failed\n')]))).toBe('edgeplane: out failed\n');
    expect(demuxLogs(Buffer.alloc(0))).toBe('');
  });
});
