// Which staged folders to evict to make room: least recently used first, never a protected one.

export interface Evictable {
  key: string;
  bytes: number;
  lastUsed: number; // ms since the epoch
  protected: boolean; // wanted, or registered in the engine
}

// The keys to remove so that used − freed + needed ≤ budget, or null when even evicting every
// unprotected entry is not enough (then nothing should be removed).
export function pickEvictions(entries: readonly Evictable[], usedBytes: number, neededBytes: number, budgetBytes: number): string[] | null {
  let excess = usedBytes + neededBytes - budgetBytes;
  if (excess <= 0) return [];
  const candidates = entries.filter((e) => !e.protected).sort((a, b) => a.lastUsed - b.lastUsed || a.key.localeCompare(b.key));
  const out: string[] = [];
  for (const e of candidates) {
    if (excess <= 0) break;
    out.push(e.key);
    excess -= e.bytes;
  }
  return excess <= 0 ? out : null;
}
