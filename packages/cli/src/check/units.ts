const SIZE_UNITS: Record<string, number> = { B: 1, kB: 1e3, KB: 1e3, MB: 1e6, GB: 1e9, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/**
 * "300 kB" -> 300000; numbers are bytes. Throws RangeError on text the schema would reject, and on a
 * value too large for a double (`1e309`, 400 digits): JSON turns those into Infinity, which would make
 * every limit pass.
 */
export function parseSize(value: number | string): number {
  if (typeof value === 'number') return finite(value, value);
  const match = /^\s*(\d+(?:\.\d+)?)\s*(B|kB|KB|MB|GB|KiB|MiB|GiB)\s*$/.exec(value);
  if (!match) throw new RangeError(`"${value}" is not a size; write e.g. 300000, "300 kB" or "2 MiB"`);
  return finite(Math.round(Number(match[1]) * SIZE_UNITS[match[2]!]!), value);
}

/** "5 ms" -> 5, "0.2 s" -> 200; numbers are milliseconds. Throws RangeError like parseSize. */
export function parseTime(value: number | string): number {
  if (typeof value === 'number') return finite(value, value);
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*$/.exec(value);
  if (!match) throw new RangeError(`"${value}" is not a time; write e.g. 5, "5 ms" or "0.2 s"`);
  return finite(Number(match[1]) * (match[2] === 's' ? 1000 : 1), value);
}

/** A plain number limit (maxParams, minCosine): finite or a RangeError. */
export function parseNumber(value: number | string): number {
  return finite(Number(value), value);
}

function finite(result: number, written: number | string): number {
  if (Number.isFinite(result)) return result;
  if (typeof written === 'number') throw new RangeError('is a number too large to represent (over 1.8e308); write a realistic value');
  const text = written.trim();
  throw new RangeError(`"${text.length > 24 ? `${text.slice(0, 12)}...${text.slice(-8)}` : text}" is too large to represent (over 1.8e308); write a realistic limit`);
}
