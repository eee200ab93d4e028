import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { OnnxInputError } from './errors.js';
import type { ExternalDataRef } from './model.js';

/**
 * Resolves TensorProto.external_data against the model's folder. A location that is absolute or
 * leaves the folder is refused: a model file must not make us read arbitrary files.
 */
export function resolveExternalData(
  entries: Record<string, string>,
  dir: string | undefined,
  modelLabel: string,
  tensorLabel: string,
): ExternalDataRef {
  const location = entries.location;
  if (!location) throw new OnnxInputError(`${modelLabel}: ${tensorLabel} is stored externally but names no location.`);
  if (dir === undefined) {
    throw new OnnxInputError(`${modelLabel}: ${tensorLabel} is stored in external file "${location}"; read the model from its file so the folder is known.`);
  }
  const normalized = location.replace(/\\/g, '/');
  if (path.isAbsolute(location) || path.win32.isAbsolute(location) || normalized.split('/').includes('..')) {
    throw new OnnxInputError(
      `${modelLabel}: ${tensorLabel} has an unsafe external data location "${location}"; it must be a relative path inside the model's folder.`,
    );
  }
  const resolved = path.resolve(dir, normalized);
  const relative = path.relative(dir, resolved);
  if (relative.startsWith('..') || path.isAbsolute(relative)) {
    throw new OnnxInputError(`${modelLabel}: ${tensorLabel} has an unsafe external data location "${location}".`);
  }
  const offset = parseNonNegative(entries.offset ?? '0', 'offset', modelLabel, tensorLabel);
  const ref: ExternalDataRef = { location, path: resolved, offset };
  if (entries.length !== undefined) ref.length = parseNonNegative(entries.length, 'length', modelLabel, tensorLabel);
  return ref;
}

function parseNonNegative(text: string, key: string, modelLabel: string, tensorLabel: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value)) {
    throw new OnnxInputError(`${modelLabel}: ${tensorLabel} has an invalid external data ${key} "${text}".`);
  }
  return value;
}

/** Reads the bytes of an external tensor; `expected` is dims x dtype size. */
export function readExternalBytes(ref: ExternalDataRef, expected: number, modelLabel: string, tensorLabel: string): Uint8Array {
  let fd: number;
  try {
    fd = openSync(ref.path, 'r');
  } catch {
    throw new OnnxInputError(
      `${modelLabel}: ${tensorLabel} is stored in external file "${ref.location}", which does not exist next to the model; copy it there.`,
    );
  }
  try {
    const size = fstatSync(fd).size;
    const length = ref.length ?? size - ref.offset;
    if (length !== expected) {
      throw new OnnxInputError(`${modelLabel}: ${tensorLabel} needs ${expected} bytes but its external data holds ${length}.`);
    }
    if (ref.offset + length > size) {
      throw new OnnxInputError(
        `${modelLabel}: ${tensorLabel} reads bytes ${ref.offset}..${ref.offset + length} of "${ref.location}", which has only ${size}; the file is truncated.`,
      );
    }
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, done, length - done, ref.offset + done);
      if (n === 0) break;
      done += n;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}
