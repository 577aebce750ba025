// Human units in scenario files: bandwidth, duration, size and fraction strings, parsed into
// plain numbers (bits per second, integer microseconds, integer bytes, a fraction in [0,1]).
// Each parser throws an Error whose message is fit to show a user; the schema turns it into an issue.

const NUMBER = String.raw`(\d+(?:\.\d+)?|\.\d+)`;

function unitPattern(units: readonly string[]): RegExp {
  const alternatives = [...units]
    .sort((a, b) => b.length - a.length)
    .map(escapeRegExp)
    .join('|');
  return new RegExp(`^\\s*${NUMBER}\\s*(${alternatives})\\s*$`);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** Bit rates: decimal prefixes on bits; byte rates ("MB/s", "MiB/s") are converted to bits. */
const BANDWIDTH_UNITS: Record<string, number> = {
  bit: 1,
  bps: 1,
  'bit/s': 1,
  kbit: 1e3,
  Kbit: 1e3,
  kbps: 1e3,
  Kbps: 1e3,
  'kbit/s': 1e3,
  'Kbit/s': 1e3,
  Mbit: 1e6,
  Mbps: 1e6,
  'Mbit/s': 1e6,
  Gbit: 1e9,
  Gbps: 1e9,
  'Gbit/s': 1e9,
  Tbit: 1e12,
  Tbps: 1e12,
  'Tbit/s': 1e12,
  'B/s': 8,
  'kB/s': 8e3,
  'KB/s': 8e3,
  'MB/s': 8e6,
  'GB/s': 8e9,
  'TB/s': 8e12,
  'KiB/s': 8 * 2 ** 10,
  'MiB/s': 8 * 2 ** 20,
  'GiB/s': 8 * 2 ** 30,
  'TiB/s': 8 * 2 ** 40,
};

/** Durations; "m" is minutes, "ms" milliseconds. */
const DURATION_UNITS: Record<string, number> = {
  us: 1,
  µs: 1,
  ms: 1e3,
  s: 1e6,
  m: 60e6,
  min: 60e6,
  h: 3600e6,
};

const SIZE_UNITS: Record<string, number> = {
  B: 1,
  kB: 1e3,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KiB: 2 ** 10,
  MiB: 2 ** 20,
  GiB: 2 ** 30,
  TiB: 2 ** 40,
};

const BANDWIDTH_RE = unitPattern(Object.keys(BANDWIDTH_UNITS));
const DURATION_RE = unitPattern(Object.keys(DURATION_UNITS));
const SIZE_RE = unitPattern(Object.keys(SIZE_UNITS));
const PERCENT_RE = new RegExp(`^\\s*${NUMBER}\\s*%\\s*$`);

/** Regular expressions (source text) the JSON Schema uses so editors flag bad units early. */
export const UNIT_PATTERNS = {
  bandwidth: BANDWIDTH_RE.source,
  duration: DURATION_RE.source,
  size: SIZE_RE.source,
  percent: PERCENT_RE.source,
} as const;

function parseWithUnits(text: string, re: RegExp, units: Record<string, number>, what: string, examples: string): number {
  const match = re.exec(text);
  if (!match) {
    const bare = /^\s*-?[\d.]+\s*$/.test(text) ? ' (a unit is required)' : '';
    throw new Error(`invalid ${what} "${text}"${bare}: expected a number and a unit, e.g. ${examples}`);
  }
  return Number(match[1]) * units[match[2]!]!;
}

/** "100Mbit", "1.5Gbit", "100Mbps", "50MB/s", "50MiB/s" → bits per second. */
export function parseBandwidth(text: string): number {
  const bps = parseWithUnits(text, BANDWIDTH_RE, BANDWIDTH_UNITS, 'bandwidth', '100Mbit, 1Gbit, 50MB/s, 50MiB/s');
  if (bps <= 0) throw new Error(`invalid bandwidth "${text}": must be greater than zero`);
  return bps;
}

/** "500us", "40ms", "2s", "1.5m", "1h" → integer microseconds. */
export function parseDuration(text: string): number {
  return Math.round(parseWithUnits(text, DURATION_RE, DURATION_UNITS, 'duration', '500us, 40ms, 2s, 1.5m, 1h'));
}

/** "512KiB", "4MiB", "1GB", "1024B" → integer bytes. */
export function parseSize(text: string): number {
  return Math.round(parseWithUnits(text, SIZE_RE, SIZE_UNITS, 'size', '512KiB, 4MiB, 2GiB, 1GB, 1024B'));
}

/** "0.5%", "12%", or a plain number 0..1 → a fraction in [0,1]. */
export function parseFraction(value: string | number): number {
  let fraction: number;
  if (typeof value === 'number') {
    fraction = value;
  } else {
    const match = PERCENT_RE.exec(value);
    if (!match) throw new Error(`invalid fraction "${value}": expected a percentage like 0.5% or 12%, or a number from 0 to 1`);
    fraction = Number(match[1]) / 100;
  }
  if (!Number.isFinite(fraction) || fraction < 0 || fraction > 1) {
    throw new Error(`invalid fraction ${JSON.stringify(value)}: must be between 0 and 1 (0% to 100%)`);
  }
  return fraction;
}

/** Trims a number to at most `digits` decimals without trailing zeros. */
function trim(n: number, digits = 2): string {
  return String(Number(n.toFixed(digits)));
}

function formatScaled(value: number, scales: readonly [number, string][]): string {
  for (const [scale, unit] of scales) {
    if (Math.abs(value) >= scale) return `${trim(value / scale)}${unit}`;
  }
  const [scale, unit] = scales[scales.length - 1]!;
  return `${trim(value / scale)}${unit}`;
}

/** 1.5e9 → "1.5Gbit/s" (parseBandwidth reads it back). */
export function formatBitsPerS(bps: number): string {
  return formatScaled(bps, [
    [1e12, 'Tbit/s'],
    [1e9, 'Gbit/s'],
    [1e6, 'Mbit/s'],
    [1e3, 'kbit/s'],
    [1, 'bit/s'],
  ]);
}

/** 1_500_000 → "1.5s"; 90e6 → "1.5m" (parseDuration reads it back). */
export function formatDurationUs(us: number): string {
  return formatScaled(us, [
    [3600e6, 'h'],
    [60e6, 'm'],
    [1e6, 's'],
    [1e3, 'ms'],
    [1, 'us'],
  ]);
}

/** 4194304 → "4MiB" (parseSize reads it back). */
export function formatBytes(bytes: number): string {
  return formatScaled(bytes, [
    [2 ** 40, 'TiB'],
    [2 ** 30, 'GiB'],
    [2 ** 20, 'MiB'],
    [2 ** 10, 'KiB'],
    [1, 'B'],
  ]);
}

// ---- ranges -----------------------------------------------------------------------------------
// Every number in a scenario has a documented range (README, "Limits"; scenarios/schema.json).

export interface UnitRange {
  min: number;
  max: number;
  /** how the ends are written in messages and descriptions */
  format: (value: number) => string;
}

const DAY_US = 24 * 3600e6;
/** The simulator's virtual-time limit (edge-sim/runner.ts MAX_VIRTUAL_US): 30 days. */
export const MAX_SCENARIO_DURATION_US = 30 * DAY_US;

const formatDurationLimit = (us: number): string => (us === MAX_SCENARIO_DURATION_US ? '720h (30 days)' : us === 0 ? '0s' : formatDurationUs(us));

export const RANGES = {
  /** link, disk, LAN and origin bandwidths: a slow modem to well past any NIC */
  bandwidth: { min: 1e3, max: 10e12, format: formatBitsPerS },
  /** round-trip times: beyond 10 s nothing talks TCP */
  rtt: { min: 0, max: 10e6, format: formatDurationLimit },
  /** fault times, windows and SLA limits: within the simulator's 30-day virtual-time limit */
  duration: { min: 0, max: MAX_SCENARIO_DURATION_US, format: formatDurationLimit },
  /** a fixed boot time, a lognormal boot's p99 */
  boot: { min: 0, max: 3600e6, format: formatDurationLimit },
  /** a lognormal boot's median: not zero (the distribution needs a scale) */
  bootMedian: { min: 1e3, max: 3600e6, format: formatDurationUs },
  /** the image */
  imageSize: { min: 1, max: 2 ** 40, format: formatBytes },
  /** the chunk: the pipeline's fixed-chunking range (pipeline/chunking.ts) */
  chunkSize: { min: 4 * 2 ** 10, max: 256 * 2 ** 20, format: formatBytes },
} as const satisfies Record<string, UnitRange>;

/** "1kbit/s to 10Tbit/s" */
export function rangeText(range: UnitRange): string {
  return `${range.format(range.min)} to ${range.format(range.max)}`;
}

/** The text as given, cut short when it is long (a number of 400 digits, say). */
export function shortText(text: string, max = 24): string {
  const t = text.trim();
  return t.length <= max ? t : `${t.slice(0, max - 9)}…${t.slice(-8)}`;
}

/** Throws an Error fit to show a user unless `value` (parsed from `text`) is within `range`. */
export function checkRange(value: number, range: UnitRange, what: string, text: string): number {
  if (Number.isFinite(value) && value >= range.min && value <= range.max) return value;
  const why = !Number.isFinite(value) ? 'is not a finite number' : value < range.min ? 'is too small' : 'is too large';
  throw new Error(`${what} "${shortText(text)}" ${why}: allowed ${rangeText(range)}`);
}
