import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { describeFileKind } from '@specprune/onnx-io/node';
import { UsageError } from '../errors.js';
import { formatBytes } from '../format.js';

/** Budget and baseline files are a few kB; anything over this is not one (and is refused before reading). */
export const MAX_JSON_FILE_BYTES = 1024 * 1024;
/** A budget file nests 4 levels (file, budgets, entry, shape); deeper input is refused before it reaches recursive code. */
export const MAX_JSON_DEPTH = 32;

/**
 * Reads a small JSON config file (a budget file, package.json, a baseline) and parses it, refusing with a
 * UsageError naming `label` anything that is not a regular file (a directory, a FIFO: never opened for a
 * blocking read), larger than MAX_JSON_FILE_BYTES, nested deeper than MAX_JSON_DEPTH, or not JSON.
 * `missing` is the sentence for a path that does not exist.
 */
export function readJsonFile(file: string, label: string, missing: string): unknown {
  let stats: Stats;
  try {
    stats = statSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') throw new UsageError(missing);
    throw new UsageError(`${label} cannot be read (${describeFsError(error)}); check the path.`);
  }
  refuseSpecial(stats, label);
  let text: string;
  let fd: number | undefined;
  try {
    // O_NONBLOCK: should the path become a FIFO after the check, opening it still cannot wait for a writer.
    fd = openSync(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
    const opened = fstatSync(fd);
    refuseSpecial(opened, label);
    const bytes = Buffer.alloc(Math.min(opened.size, MAX_JSON_FILE_BYTES) + 1);
    let length = 0;
    for (let n = 1; n > 0 && length < bytes.length; length += n) n = readSync(fd, bytes, length, bytes.length - length, null);
    if (length > MAX_JSON_FILE_BYTES) throw tooLarge(label, opened.size);
    text = bytes.subarray(0, length).toString('utf8');
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`${label} cannot be read (${describeFsError(error)}); check the path.`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const depth = jsonDepth(text);
  if (depth > MAX_JSON_DEPTH) throw new UsageError(`${label} nests arrays/objects ${depth} levels deep; a budget file needs at most ${MAX_JSON_DEPTH} (it uses 4).`);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${label} is not valid JSON: ${oneLine(String((error as Error).message)).replace(/\.$/, '')}.`);
  }
}

function refuseSpecial(stats: Stats, label: string): void {
  if (stats.isDirectory()) throw new UsageError(`${label} is a directory; give the JSON file itself.`);
  if (!stats.isFile()) throw new UsageError(`${label} is not a regular file (${describeFileKind(stats)}); give a JSON file.`);
  if (stats.size > MAX_JSON_FILE_BYTES) throw tooLarge(label, stats.size);
}

function tooLarge(label: string, size: number): UsageError {
  return new UsageError(`${label} is ${formatBytes(size)}, more than any budget file needs; the limit is ${formatBytes(MAX_JSON_FILE_BYTES)}.`);
}

function describeFsError(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? oneLine(String((error as Error).message));
}

/** The deepest nesting of arrays and objects in JSON text, counted without parsing (strings skipped). */
export function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) deepest = Math.max(deepest, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

/** Control characters (terminal escapes, newlines) out, so a message stays one line. */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ');
}
