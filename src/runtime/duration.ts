// Durations as Go flags write them: "1h30m", "15s", "500ms", "2m". Returns milliseconds.
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDuration(flag: string, value: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(value); m; m = re.exec(value)) {
    total += Number(m[1]) * UNITS[m[2]];
    matched = re.lastIndex;
  }
  if (value === '0') return 0;
  if (!value || matched !== value.length) throw new Error(`${flag}: "${value}" is not a duration; write it like 15s, 2m, 500ms or 1h30m`);
  return total;
}
