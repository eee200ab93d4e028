import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { OnnxInputError } from './errors.js';
import type { ExternalDataFiles, ExternalDataRef } from './model.js';
import { describeFileKind, isInsideFolder, realPathOf } from './node-files.js';

/**
 * External data on the local file system, given by readModel to the models it reads. A location (already
 * checked to be relative and free of ".."; "\\" read as "/") is resolved against the model's real folder and refused when it
 * leaves it through a symbolic link (a linked file, a linked folder, a link to an absolute path): a model
 * file must not make us read arbitrary files. The path is the real path of the data file (for a file that
 * does not exist yet: inside the real folder).
 */
export const nodeExternalFiles: ExternalDataFiles = {
  resolve(location, dir, modelLabel, tensorLabel) {
    const realDir = realPathOf(dir);
    const resolved = realPathOf(path.join(realDir, location.replace(/\\/g, '/')));
    if (!isInsideFolder(resolved, realDir)) {
      throw new OnnxInputError(
        `${modelLabel}: ${tensorLabel} has external data location "${location}", which leads (through a symbolic link) to ${resolved}, outside the model's folder ${realDir}; copy the data file into the folder.`,
      );
    }
    const kind = kindIfNotRegular(resolved);
    if (kind) {
      throw new OnnxInputError(`${modelLabel}: ${tensorLabel} is stored in external file "${location}", which is ${kind}, not a regular file; replace it with the data file.`);
    }
    return resolved;
  },
  read: readExternalFile,
};

/** What an existing path is when it is not a regular file (a FIFO would block the reader); undefined otherwise. */
function kindIfNotRegular(file: string): string | undefined {
  try {
    const stats = statSync(file);
    return stats.isFile() ? undefined : describeFileKind(stats);
  } catch {
    return undefined; // missing: reported when the data is read
  }
}

/**
 * Reads the bytes of an external tensor; `expected` is dims x dtype size. The data file must still be
 * the regular file resolveExternalData found (no link swapped in since, no FIFO or device: checked
 * before opening, and the open does not block or follow a final link).
 */
function readExternalFile(ref: ExternalDataRef, expected: number, modelLabel: string, tensorLabel: string): Uint8Array {
  const where = `${modelLabel}: ${tensorLabel} is stored in external file "${ref.location}"`;
  let fd: number;
  try {
    const stats = lstatSync(ref.path);
    if (!stats.isFile() || realpathSync(ref.path) !== ref.path) {
      const kind = stats.isSymbolicLink() ? 'a symbolic link that leads to no regular file inside the model\'s folder' : describeFileKind(stats);
      throw new OnnxInputError(`${where}, which is ${kind}, not a regular file inside the model's folder; replace it with the data file.`);
    }
    fd = openSync(ref.path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
    if (!fstatSync(fd).isFile()) {
      closeSync(fd);
      throw new OnnxInputError(`${where}, which changed into something other than a regular file while it was opened.`);
    }
  } catch (error) {
    if (error instanceof OnnxInputError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new OnnxInputError(`${where}, which does not exist next to the model; copy it there.`);
    throw new OnnxInputError(`${where}, which cannot be read (${code ?? (error as Error).message}).`);
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
      if (n === 0) throw new OnnxInputError(`${where}, which became shorter while it was being read.`);
      done += n;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}
