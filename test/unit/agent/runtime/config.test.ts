import { describe, expect, it } from 'vitest';
import { machineConfig, parseAgentConfig } from '../../../../agent/index.js';
import { InputError } from '../../../../common/index.js';
import { nodeClients } from '../../../../planes/index.js';

const base = ['node: edge-1', 'stateDir: state', 'plane: { kind: test-plane, url: "http://127.0.0.1:1/test-plane/v1", tokenFile: tok }', 'trust: [pub.pem]'];

describe('agent.yaml', () => {
  it('fills defaults and resolves paths against the file', () => {
    const c = parseAgentConfig(base.join('\n'), 'agent.yaml', '/etc/ep', nodeClients);
    expect(c.stateDir).toBe('/etc/ep/state');
    expect(c.trust).toEqual(['/etc/ep/pub.pem']);
    expect(c.plane).toMatchObject({ kind: 'test-plane', tokenFile: '/etc/ep/tok' });
    expect(c.hypervisor).toMatchObject({ kind: 'qemu', accel: 'auto', bootTimeoutS: 180 });
    expect(c.fetch.rangesInFlight).toBe(4);
    expect(machineConfig(c)).toEqual({ pollIntervalUs: 10_000_000, backoffBaseUs: 500_000, backoffCapUs: 30_000_000, maxAttempts: 0, maxChunkRetries: 3, maxAuthFailures: 5 });
  });

  it.each([
    ['an unknown key', [...base, 'colour: blue'], /colour/],
    ['an unknown plane', [...base.slice(0, 2), 'plane: { kind: openstack, url: "http://x" }', base[3]], /plane/],
    ['both token and tokenFile', [...base.slice(0, 2), 'plane: { kind: test-plane, url: "http://127.0.0.1:1", tokenFile: t, token: "0123456789abcdef0123" }', base[3]], /exactly one of token and tokenFile/],
    ['no trusted key', [...base.slice(0, 3), 'trust: []'], /trust/],
    ['zero ranges in flight', [...base, 'fetch: { rangesInFlight: 0 }'], /rangesInFlight/],
    ['an unknown hypervisor', [...base, 'hypervisor: { kind: xen }'], /hypervisor/],
    ['not YAML', ['node: [unclosed'], /not valid YAML/],
  ])('refuses %s with a clear message (exit 2)', (_name, lines, message) => {
    const attempt = () => parseAgentConfig(lines.join('\n'), 'agent.yaml', '/', nodeClients);
    expect(attempt).toThrow(InputError);
    expect(attempt).toThrow(message);
  });
});
