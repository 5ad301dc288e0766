// Durations as people read and type them: kubectl's ages, "(5m ago)", and --timeout values.
import { InvalidArgumentError } from 'commander';

/** kubectl's age format (apimachinery duration.HumanDuration). */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 365 * 8) {
    const d = days % 365;
    return d === 0 ? `${Math.floor(days / 365)}y` : `${Math.floor(days / 365)}y${d}d`;
  }
  return `${Math.floor(days / 365)}y`;
}

/** Age of a timestamp in kubectl's format, or '' when there is none. */
export function age(ts: string | Date | undefined, now: number): string {
  if (ts === undefined || ts === '') return '';
  const t = ts instanceof Date ? ts.getTime() : Date.parse(ts);
  return Number.isNaN(t) ? '' : humanDuration(now - t);
}

/** `2026-03-01T11:55:00Z (5m ago)`, or `never`. */
export function when(ts: string | undefined, now: number): string {
  if (!ts) return 'never';
  const a = age(ts, now);
  return a ? `${ts} (${a} ago)` : ts;
}

/** Seconds with the precision that matters at their size: `1.5s`, `4.2s`, `12.3s`. */
export function formatSeconds(s: number): string {
  return `${Number(s.toFixed(s < 10 ? 2 : 1))}s`;
}

/** `60s`, `2m`, `1m30s`, `500ms`, `1h`; a bare number is seconds. */
export function parseDuration(text: string): number {
  const v = text.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(v); m; m = re.exec(v)) {
    total += Number(m[1]) * units[m[2]!]!;
    end = re.lastIndex;
  }
  if (v === '' || end !== v.length)
    throw new InvalidArgumentError('expected a duration such as 60s, 2m, 1m30s');
  return total;
}
