// Human-readable values with their units, shared by HTML, Markdown and the gate summary.
// Every number goes through `digits()`: rounded to a few significant digits, never in exponent
// form, and magnitudes that can only be floating-point noise print as 0.

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/** Below this magnitude a value is rounding noise for every unit the results use (s, B, MiB, ratio, count). */
const NOISE_FLOOR = 1e-12;
/** A spread at most this fraction of its mean is rounding noise of identical repeats. */
const RELATIVE_NOISE = 1e-9;

export function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return String(value);
  const v = Math.abs(value) < NOISE_FLOOR ? 0 : value;
  switch (unit) {
    case 's':
      return formatSeconds(v);
    case 'B':
      return formatBytes(v);
    case 'MiB':
      return formatBytes(v * 1024 * 1024);
    case 'percent':
      return `${digits(v * 100, 3)}%`;
    case 'ratio':
      return `${digits(v, 3)}×`;
    case 'bool':
      return nearly(v, 1) || v >= 1 ? 'yes' : v <= 0 ? 'no' : `${digits(v * 100, 3)}%`;
    case 'count':
      return formatCount(v);
    default:
      return `${digits(v, 4)}${unit ? ` ${unit}` : ''}`;
  }
}

/**
 * A mean and the spread of its repeats: "mean ± sd", or the mean alone when the spread is absent,
 * zero, or rounding noise (at most 1e-9 of the mean, or below 1e-12 absolute), as identical repeats
 * give after floating-point arithmetic.
 */
export function formatMeanSpread(mean: number, sd: number | undefined, unit: string): string {
  const m = formatValue(mean, unit);
  if (!isSpread(mean, sd)) return m;
  // a spread of a yes/no fraction reads as a percentage, never as "yes"
  return `${m} ± ${formatValue(sd, unit === 'bool' ? 'percent' : unit)}`;
}

/** Whether sd is a real spread of mean rather than nothing or floating-point noise. */
export function isSpread(mean: number, sd: number | undefined): sd is number {
  if (sd === undefined || !Number.isFinite(sd)) return false;
  const s = Math.abs(sd);
  return s >= NOISE_FLOOR && s > RELATIVE_NOISE * Math.abs(mean);
}

export function formatSeconds(s: number): string {
  const abs = Math.abs(s);
  if (abs < NOISE_FLOOR) return '0 s';
  if (abs < 1e-6) return `${digits(s * 1e9, 3)} ns`;
  if (abs < 1e-3) return `${digits(s * 1e6, 3)} µs`;
  if (abs < 1) return `${digits(s * 1e3, 3)} ms`;
  if (abs < 120) return `${digits(s, 3)} s`;
  if (abs < 7200) return `${digits(s / 60, 3)} min`;
  return `${digits(s / 3600, 3)} h`;
}

export function formatBytes(b: number): string {
  let v = Math.abs(b) < NOISE_FLOOR ? 0 : b;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < BYTE_UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${digits(v, 3)} ${BYTE_UNITS[i]}`;
}

/** Whole counts in full with thousands separators; fractional ones (means) to 3 significant digits, whole from 100 on. */
function formatCount(v: number): string {
  const whole = Math.round(v);
  if (nearly(v, whole) || Math.abs(v) >= 100) return (whole === 0 ? 0 : whole).toLocaleString('en-US');
  return digits(v, 3);
}

/** A signed percentage (+5%, -2.5%); nonzero changes below 0.001% read "+<0.001%", not an exponent or a misleading 0. */
export function formatPercent(fraction: number): string {
  if (!Number.isFinite(fraction)) return fraction > 0 ? '+∞%' : fraction < 0 ? '−∞%' : String(fraction);
  const p = fraction * 100;
  if (p === 0) return '0%';
  if (Math.abs(p) < 1e-3) return `${p > 0 ? '+' : '-'}<0.001%`;
  return `${p > 0 ? '+' : ''}${digits(p, 3)}%`;
}

/** "p = 0.012" (2 significant digits), or "p < 0.0001" for tiny ones. */
export function formatP(p: number): string {
  if (p > 0 && p < 1e-4) return 'p < 0.0001';
  return `p = ${digits(p, 2)}`;
}

/** Equal up to floating-point rounding. */
function nearly(a: number, b: number): boolean {
  return Math.abs(a - b) <= RELATIVE_NOISE * Math.max(1, Math.abs(a), Math.abs(b));
}

const FORMATTERS = new Map<number, Intl.NumberFormat>();

/**
 * `n` significant digits, no trailing zeros, never exponent notation (e.g. 0.000123, 12300,
 * 15000000000000000000000); magnitudes below the noise floor print as 0, and so does -0.
 */
export function digits(v: number, n: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) < NOISE_FLOOR) return '0';
  let f = FORMATTERS.get(n);
  if (!f) {
    f = new Intl.NumberFormat('en-US', { maximumSignificantDigits: n, useGrouping: false });
    FORMATTERS.set(n, f);
  }
  const text = f.format(v);
  return text === '-0' ? '0' : text;
}
