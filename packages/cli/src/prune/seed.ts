import { deriveSeed as deriveCoreSeed } from '@specprune/core';

/** FNV-1a of a string: turns a weight's graph/name into a label for core's seed derivation. */
function hashString(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

/**
 * The seed of one weight's block: derived from --seed, the weight's key and the block index, so it does
 * not depend on the order in which weights are processed.
 */
export function deriveSeed(seed: number, weightKey: string, block: number): number {
  return deriveCoreSeed(seed, hashString(weightKey), block);
}
