// Human-readable values with their units, shared by HTML, Markdown and the gate summary.

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return String(value);
  switch (unit) {
    case 's':
      return formatSeconds(value);
    case 'B':
      return formatBytes(value);
    case 'MiB':
      return formatBytes(value * 1024 * 1024);
    case 'percent':
      return `${trim(value * 100, 3)}%`;
    case 'ratio':
      return `${trim(value, 3)}×`;
    case 'bool':
      return value >= 1 ? 'yes' : value <= 0 ? 'no' : `${trim(value * 100, 3)}%`;
    case 'count':
      return Number.isInteger(value) ? value.toLocaleString('en-US') : trim(value, 3);
    default:
      return `${trim(value, 4)}${unit ? ` ${unit}` : ''}`;
  }
}

export function formatSeconds(s: number): string {
  const abs = Math.abs(s);
  if (abs === 0) return '0 s';
  if (abs < 1e-3) return `${trim(s * 1e6, 3)} µs`;
  if (abs < 1) return `${trim(s * 1e3, 3)} ms`;
  if (abs < 120) return `${trim(s, 3)} s`;
  if (abs < 7200) return `${trim(s / 60, 3)} min`;
  return `${trim(s / 3600, 3)} h`;
}

export function formatBytes(b: number): string {
  let v = b;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < BYTE_UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${trim(v, 3)} ${BYTE_UNITS[i]}`;
}

export function formatPercent(fraction: number): string {
  const sign = fraction > 0 ? '+' : '';
  return `${sign}${trim(fraction * 100, 3)}%`;
}

/** `digits` significant digits, no trailing zeros. */
function trim(v: number, digits: number): string {
  if (v === 0) return '0';
  return String(Number(v.toPrecision(digits)));
}
