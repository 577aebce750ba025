// Every number in a scenario is finite and within its documented range; violations name the
// file:line:col and the allowed range (issue 14, item 1).
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../common/index.js';
import { integerOption } from '../../../cli/options.js';
import { scenarios } from '../../../planes/index.js';

const MINIMAL = 'name: x\nplanes: [openstack]\n';
const HUGE = `1${'0'.repeat(400)}`;

function errorsOf(line: string): string[] {
  try {
    scenarios.parse(`${MINIMAL}${line}\n`, 'bad.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).exitCode).toBe(2);
    return (err as InputError).details;
  }
  throw new Error(`expected ${line} to be rejected`);
}

describe('scenario number ranges', () => {
  it.each(
    [
      // bandwidths
      [`origin: {uplink: ${HUGE}Mbit}`, 'bad.yaml:3:18: origin.uplink: bandwidth "100000000000000…0000Mbit" is not a finite number: allowed 1kbit/s to 10Tbit/s'],
      ['origin: {uplink: 100Tbit}', 'bad.yaml:3:18: origin.uplink: bandwidth "100Tbit" is too large: allowed 1kbit/s to 10Tbit/s'],
      ['fleet: {node: {disk: 0.000001bit}}', 'bad.yaml:3:22: fleet.node.disk: bandwidth "0.000001bit" is too small: allowed 1kbit/s to 10Tbit/s'],
      ['fleet: {site: {lan: -1Gbit}}', 'bad.yaml:3:21: fleet.site.lan: invalid bandwidth "-1Gbit": expected a number and a unit, e.g. 100Mbit, 1Gbit, 50MB/s, 50MiB/s'],
      // sizes
      [`image: {size: ${HUGE}GiB}`, 'bad.yaml:3:15: image.size: size "100000000000000…00000GiB" is not a finite number: allowed 1B to 1TiB'],
      ['image: {size: 1000000000000000000000000000000GiB}', 'bad.yaml:3:15: image.size: size "100000000000000…00000GiB" is too large: allowed 1B to 1TiB'],
      ['image: {size: 0.1B}', 'bad.yaml:3:15: image.size: size "0.1B" is too small: allowed 1B to 1TiB'],
      ['image: {chunk: 1KiB}', 'bad.yaml:3:16: image.chunk: size "1KiB" is too small: allowed 4KiB to 256MiB'],
      ['image: {size: 1TiB, chunk: 4KiB}', 'bad.yaml:3:28: image.chunk: the image is 268,435,456 chunks of this size; allowed at most 1,048,576 chunks per image (use a chunk of at least 1MiB)'],
      // durations
      ['origin: {rtt: 11s}', 'bad.yaml:3:15: origin.rtt: duration "11s" is too large: allowed 0s to 10s'],
      [`faults: {crashes: [{at: ${HUGE}h, nodes: 1, downFor: 1s}]}`, 'bad.yaml:3:25: faults.crashes[0].at: duration "100000000000000…0000000h" is not a finite number: allowed 0s to 720h (30 days)'],
      ['sla: {makespan: 721h}', 'bad.yaml:3:17: sla.makespan: duration "721h" is too large: allowed 0s to 720h (30 days)'],
      ['fleet: {node: {boot: {median: 0s, p99: 2s}}}', 'bad.yaml:3:31: fleet.node.boot.median: duration "0s" is too small: allowed 1ms to 1h'],
      // probabilities
      ['fleet: {node: {access: {loss: 2}}}', 'bad.yaml:3:31: fleet.node.access.loss: invalid fraction 2: must be between 0 and 1 (0% to 100%)'],
      ['faults: {chunkCorruption: -0.1}', 'bad.yaml:3:27: faults.chunkCorruption: invalid fraction -0.1: must be between 0 and 1 (0% to 100%)'],
      // counts
      ['repeat: 100000', 'bad.yaml:3:9: repeat: 100,000 is out of range: allowed 1 to 1,000'],
      ['repeat: .inf', 'bad.yaml:3:9: repeat: Infinity is not a finite number: allowed 1 to 1,000'],
      ['seed: -3', 'bad.yaml:3:7: seed: -3 is out of range: allowed 0 to 9,007,199,254,740,991'],
      ['seed: 1e20', 'bad.yaml:3:7: seed: 100,000,000,000,000,000,000 is out of range: allowed 0 to 9,007,199,254,740,991'],
      ['fleet: {sites: 2000000}', 'bad.yaml:3:16: fleet.sites: 2,000,000 is out of range: allowed 1 to 1,000,000'],
      ['concurrency: {rangesInFlight: 65}', 'bad.yaml:3:31: concurrency.rangesInFlight: 65 is out of range: allowed 1 to 64'],
      ['concurrency: {maxConcurrentDeploys: 1.5}', 'bad.yaml:3:37: concurrency.maxConcurrentDeploys: expected an integer, got 1.5: allowed 0 to 1,000,000'],
      // rates
      ['faults: {crashRate: {perNodePerHour: 1e300, downFor: 1s}}', 'bad.yaml:3:38: faults.crashRate.perNodePerHour: 1e+300 is out of range: allowed more than 0 and at most 60 crashes per node per hour'],
      ['faults: {crashRate: {perNodePerHour: .inf, downFor: 1s}}', 'bad.yaml:3:38: faults.crashRate.perNodePerHour: Infinity is out of range: allowed more than 0 and at most 60 crashes per node per hour'],
      ['faults: {crashRate: {perNodePerHour: -1, downFor: 1s}}', 'bad.yaml:3:38: faults.crashRate.perNodePerHour: -1 is out of range: allowed more than 0 and at most 60 crashes per node per hour'],
    ].map(([line, expected]) => [line.replace(HUGE, '1 and 400 zeros'), line, expected]),
  )('%s', (_title, line, expected) => {
    expect(errorsOf(line)).toEqual([expected]);
  });

  it('accepts the ends of each range', () => {
    const s = scenarios.parse(
      `${MINIMAL}seed: 9007199254740991\nrepeat: 1000\norigin: {uplink: 10Tbit, rtt: 10s}\nimage: {size: 1TiB, chunk: 256MiB}\nfleet: {node: {disk: 1kbit, boot: 1h}}\nconcurrency: {rangesInFlight: 64}\nfaults: {crashRate: {perNodePerHour: 60, downFor: 720h}}\n`,
      'ok.yaml',
    );
    expect(s.image).toMatchObject({ sizeBytes: 2 ** 40, chunkBytes: 256 * 2 ** 20 });
    expect(s.faults.crashRate).toEqual({ perNodePerHour: 60, downForUs: 30 * 24 * 3600e6 });
  });
});

describe('integer flags', () => {
  it('have upper bounds', () => {
    expect(() => integerOption('--repeat', 1, 1000)('1001')).toThrow('--repeat must be a whole number from 1 to 1000, got "1001"');
    expect(() => integerOption('--seed', 0)('99999999999999999999')).toThrow('--seed must be a whole number >= 0, got "99999999999999999999"');
    expect(integerOption('--nodes', 1, 32)('32')).toBe(32);
  });
});
