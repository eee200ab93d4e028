import { closeSync, constants, fstatSync, openSync, readSync, realpathSync, statSync, unlinkSync, type Stats } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { constants as bufferConstants } from 'node:buffer';
import { OnnxInputError } from './errors.js';

/**
 * Path safety for the files a command reads and writes: only regular files are opened (a FIFO would
 * block the process, a device would be replaced by a regular file), files are compared by what they
 * are on disk (real path, device and inode) rather than by how they are spelled, and every temporary
 * file this process creates is tracked so that an interrupted run can remove it.
 */

/** The kind of a file that is not a regular file, for messages ("a folder", "a named pipe (FIFO)", ...). */
export function describeFileKind(stats: Stats): string {
  if (stats.isFile()) return 'a regular file';
  if (stats.isDirectory()) return 'a folder';
  if (stats.isFIFO()) return 'a named pipe (FIFO)';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** How to name a file in the sentences of OnnxInputError: `label` names it, `advice` says what to do. */
export interface FileWording {
  label: string;
  /** Ends the sentence of a missing or unusable file, e.g. "check the path of the model". */
  advice: string;
}

/**
 * Opens a regular file for reading and returns its descriptor. Anything else (missing, a folder, a FIFO,
 * a device, unreadable) is refused with an OnnxInputError before it is opened; the open itself is
 * non-blocking and re-checked, so a file swapped for a FIFO in between cannot hang the process.
 */
export function openRegularFile(file: string, wording: FileWording): { fd: number; stats: Stats } {
  const stats = statOrRefuse(file, wording);
  if (!stats.isFile()) throw notRegular(stats, wording);
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw unreadable(error, wording);
  }
  const opened = fstatSync(fd);
  if (!opened.isFile() || opened.ino !== stats.ino || opened.dev !== stats.dev) {
    closeSync(fd);
    throw new OnnxInputError(`${wording.label} changed while it was being opened; ${wording.advice}.`);
  }
  return { fd, stats: opened };
}

/** Reads a whole regular file (see openRegularFile for what is refused). */
export function readRegularFile(file: string, wording: FileWording): Buffer {
  const { fd, stats } = openRegularFile(file, wording);
  try {
    if (stats.size > bufferConstants.MAX_LENGTH) {
      throw new OnnxInputError(`${wording.label} is ${stats.size} bytes, more than can be read into memory at once (${bufferConstants.MAX_LENGTH}); ${wording.advice}.`);
    }
    const out = Buffer.allocUnsafe(stats.size);
    let done = 0;
    while (done < out.byteLength) {
      const n = readSync(fd, out, done, out.byteLength - done, done);
      if (n === 0) throw new OnnxInputError(`${wording.label} became shorter while it was being read; ${wording.advice}.`);
      done += n;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/** Stats of an existing path that must be a regular file; refuses missing paths and other kinds. */
export function statRegularFile(file: string, wording: FileWording): Stats {
  const stats = statOrRefuse(file, wording);
  if (!stats.isFile()) throw notRegular(stats, wording);
  return stats;
}

function statOrRefuse(file: string, wording: FileWording): Stats {
  try {
    return statSync(file);
  } catch (error) {
    throw unreadable(error, wording);
  }
}

function notRegular(stats: Stats, wording: FileWording): OnnxInputError {
  return new OnnxInputError(`${wording.label} is ${describeFileKind(stats)}, not a regular file; ${wording.advice}.`);
}

function unreadable(error: unknown, wording: FileWording): OnnxInputError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new OnnxInputError(`${wording.label} does not exist; ${wording.advice}.`);
  if (code === 'ENOTDIR') return new OnnxInputError(`${wording.label} does not exist (a part of the path is not a folder); ${wording.advice}.`);
  if (code === 'EACCES' || code === 'EPERM') return new OnnxInputError(`${wording.label} cannot be read (permission denied); ${wording.advice}.`);
  if (code === 'ELOOP') return new OnnxInputError(`${wording.label} is a loop of symbolic links; ${wording.advice}.`);
  return new OnnxInputError(`${wording.label} cannot be read (${code ?? (error as Error).message}); ${wording.advice}.`);
}

/**
 * The real path of `file` (symbolic links resolved), also for a file that does not exist yet: the real
 * path of its nearest existing folder joined with the rest.
 */
export function realPathOf(file: string): string {
  const absolute = path.resolve(file);
  try {
    return realpathSync(absolute);
  } catch {
    const parent = path.dirname(absolute);
    if (parent === absolute) return absolute;
    return path.join(realPathOf(parent), path.basename(absolute));
  }
}

/** True when `a` and `b` are the same file: the same real path, or (both existing) the same device and inode (hard links). */
export function isSameFile(a: string, b: string): boolean {
  if (realPathOf(a) === realPathOf(b)) return true;
  try {
    const [sa, sb] = [statSync(a), statSync(b)];
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}

/** True when `inner` (a real path) is `folder` (a real path) or inside it. */
export function isInsideFolder(inner: string, folder: string): boolean {
  const relative = path.relative(folder, inner);
  return relative === '' || (!relative.startsWith(`..${path.sep}`) && relative !== '..' && !path.isAbsolute(relative));
}

/**
 * Checks, before any work, that `file` can be written by renaming a temporary file in its folder into
 * place: the folder exists and takes new files (probed by creating and removing one), and `file`, if it
 * exists, is a regular file (a folder or a device must not be replaced). Throws OnnxInputError naming
 * `label` (e.g. "-o out.onnx").
 */
export function checkWritableFile(file: string, label: string): void {
  const absolute = path.resolve(file);
  const dir = path.dirname(absolute);
  let dirStats: Stats;
  try {
    dirStats = statSync(dir);
  } catch {
    throw new OnnxInputError(`${label}: folder ${dir} does not exist; create it first.`);
  }
  if (!dirStats.isDirectory()) throw new OnnxInputError(`${label}: ${dir} is ${describeFileKind(dirStats)}, not a folder; choose a path inside a folder.`);
  let existing: Stats | undefined;
  try {
    existing = statSync(absolute);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw new OnnxInputError(`${label} cannot be checked (${code}); choose another path.`);
  }
  if (existing?.isDirectory()) {
    throw new OnnxInputError(`${label} is a folder; name a file to write, e.g. ${path.join(file, 'model.onnx')}.`);
  }
  if (existing && !existing.isFile()) {
    throw new OnnxInputError(`${label} is ${describeFileKind(existing)}, not a regular file; it would be replaced, so name a regular file to write.`);
  }
  const probe = tempPathNear(absolute);
  try {
    closeSync(openSync(probe, 'wx'));
  } catch (error) {
    releaseTempPath(probe);
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'EROFS' ? 'it is on a read-only file system' : code === 'EACCES' || code === 'EPERM' ? 'it is not writable' : `new files fail there (${code})`;
    throw new OnnxInputError(`${label}: cannot write into folder ${dir} (${why}); choose another folder.`);
  }
  unlinkSync(probe);
  releaseTempPath(probe);
}

/** A fresh hidden path next to `target` (same folder, so a rename never crosses file systems); tracked until released. */
export function tempPathNear(target: string): string {
  const temp = path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  temps.add(temp);
  return temp;
}

const temps = new Set<string>();

/** Forgets a temporary path (renamed into place or removed). */
export function releaseTempPath(temp: string): void {
  temps.delete(temp);
}

/**
 * Removes every temporary file this process created and has not released yet (on an interrupt or a
 * fatal error); returns how many were removed. Synchronous, so it can run in a signal handler.
 */
export function removeTempFiles(): number {
  let removed = 0;
  for (const temp of temps) {
    try {
      unlinkSync(temp);
      removed++;
    } catch {
      // Renamed into place or never created: nothing to remove.
    }
    temps.delete(temp);
  }
  return removed;
}
