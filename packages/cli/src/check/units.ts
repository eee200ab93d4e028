const SIZE_UNITS: Record<string, number> = { B: 1, kB: 1e3, KB: 1e3, MB: 1e6, GB: 1e9, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** "300 kB" -> 300000; numbers are bytes. Throws RangeError on text the schema would reject. */
export function parseSize(value: number | string): number {
  if (typeof value === 'number') return value;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(B|kB|KB|MB|GB|KiB|MiB|GiB)\s*$/.exec(value);
  if (!match) throw new RangeError(`"${value}" is not a size; write e.g. 300000, "300 kB" or "2 MiB"`);
  return Math.round(Number(match[1]) * SIZE_UNITS[match[2]!]!);
}

/** "5 ms" -> 5, "0.2 s" -> 200; numbers are milliseconds. */
export function parseTime(value: number | string): number {
  if (typeof value === 'number') return value;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*$/.exec(value);
  if (!match) throw new RangeError(`"${value}" is not a time; write e.g. 5, "5 ms" or "0.2 s"`);
  return Number(match[1]) * (match[2] === 's' ? 1000 : 1);
}
