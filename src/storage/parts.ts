// Splits an object into byte ranges for parallel ranged GETs.

export interface Part {
  index: number;
  start: number; // first byte
  end: number; // last byte, inclusive (as in the HTTP Range header)
}

export function planParts(size: number, partSize: number): Part[] {
  if (!Number.isSafeInteger(size) || size < 0) throw new Error(`planParts: size ${size} is not a byte count`);
  if (!Number.isSafeInteger(partSize) || partSize <= 0) throw new Error(`planParts: part size ${partSize} must be a positive integer`);
  const parts: Part[] = [];
  for (let start = 0, index = 0; start < size; start += partSize, index++) {
    parts.push({ index, start, end: Math.min(size, start + partSize) - 1 });
  }
  return parts;
}
