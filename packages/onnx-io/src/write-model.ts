import { closeSync, openSync, renameSync, statSync, unlinkSync, writevSync, type Stats } from 'node:fs';
import path from 'node:path';
import { byteLength, type RenderContext } from './message.js';
import type { OnnxModel } from './model.js';
import { describeFileKind, isSameFile, releaseTempPath, tempPathNear } from './node-files.js';
import { OnnxInputError } from './errors.js';
import { allTensors, externalizeTensors, EXTERNAL_THRESHOLD_BYTES, PROTOBUF_LIMIT_BYTES } from './serialize.js';

export interface WriteOptions {
  /** Write tensor data to `<output>.data` when the model would exceed this many bytes (default: protobuf's 2 GiB limit). */
  externalDataLimitBytes?: number;
  /** Allow replacing the model's own file and its external data files (`--in-place`); refused otherwise. */
  overwriteInput?: boolean;
  /** More files the write must not replace (what the command read besides the model: samples, budgets). */
  protect?: readonly string[];
}

export interface WriteResult {
  path: string;
  bytes: number;
  /** Set when tensor data was written to an external file beside the model. */
  externalData?: { path: string; bytes: number };
}

/**
 * Writes the model to `outPath` through a temporary file in the same folder, renamed into place
 * only when complete. A model that had external data, or that would pass the protobuf limit, is
 * written with its tensors in `<outPath>.data`. The model's input file is never touched.
 */
export function writeModel(model: OnnxModel, outPath: string, options: WriteOptions = {}): WriteResult {
  const staged = stageModel(model, outPath, options);
  commitStaged([staged]);
  return staged.result;
}

/** Files written to temporary paths beside their targets, not yet in place: commit renames them, discard removes them. */
export interface StagedWrite {
  result: WriteResult;
  /** The temporary file that becomes `result.path` (to measure it before committing). */
  tempPath: string;
  /**
   * A temporary model file onnxruntime can load before the commit (with external data, a copy of the
   * model naming the data file's temporary path), and that data file; both are removed by commit and discard.
   */
  loadable?: { model: string; data?: string };
  /** Renames every temporary file into place (the model's data file before the model). */
  commit(): void;
  /** Removes every temporary file; safe to call more than once and after a commit. */
  discard(): void;
}

/**
 * The first half of writeModel: serialises the model into temporary files next to `outPath` (and
 * `<outPath>.data`) without touching either. Refuses, before writing anything, a target that is a
 * folder or not a regular file, and a target that is the model's own file or one of its external data
 * files (compared by real path and inode) unless `overwriteInput`, or one of `options.protect`.
 */
export function stageModel(model: OnnxModel, outPath: string, options: WriteOptions = {}): StagedWrite {
  const limit = options.externalDataLimitBytes ?? PROTOBUF_LIMIT_BYTES;
  const tensors = allTensors(model);
  const hasExternal = tensors.some((t) => t.external);
  const inputs = [
    ...(options.overwriteInput ? [] : [...(model.path !== undefined ? [model.path] : []), ...new Set(tensors.flatMap((t) => (t.external ? [t.external.path] : [])))]),
    ...(options.protect ?? []),
  ];
  const dataPath = `${outPath}.data`;
  refuseUnsafeTarget(outPath, inputs);
  let chunks = hasExternal ? undefined : model.root.serialize();
  const dataName = path.basename(dataPath);
  let dataChunks: Uint8Array[] = [];
  const placed: Array<{ offset: number; length: number }> = [];
  if (!chunks || byteLength(chunks) > limit) {
    externalizeTensors(model);
    let offset = 0;
    dataChunks = [];
    const context: RenderContext = {
      externalize(data, wasExternal) {
        if (!wasExternal && data.byteLength < EXTERNAL_THRESHOLD_BYTES) return undefined;
        const padding = (4096 - (offset % 4096)) % 4096; // page-aligned, so readers can mmap
        if (padding) dataChunks.push(new Uint8Array(padding));
        offset += padding;
        const at = offset;
        dataChunks.push(data);
        offset += data.byteLength;
        placed.push({ offset: at, length: data.byteLength });
        return { location: dataName, offset: at, length: data.byteLength };
      },
    };
    chunks = model.root.serialize(context);
  }
  const result: WriteResult = { path: outPath, bytes: byteLength(chunks) };
  if (dataChunks.length) refuseUnsafeTarget(dataPath, inputs);
  const parts: StagedWrite[] = [];
  try {
    const data = dataChunks.length ? stageFile(dataPath, dataChunks) : undefined;
    if (data) parts.push(data);
    const main = stageFile(outPath, chunks);
    parts.push(main);
    let verify: string | undefined;
    if (data) {
      // The same model naming the data file's temporary name, so it can be loaded before anything is in place.
      let next = 0;
      const location = path.basename(data.tempPath);
      const replay: RenderContext = {
        externalize(bytes, wasExternal) {
          if (!wasExternal && bytes.byteLength < EXTERNAL_THRESHOLD_BYTES) return undefined;
          return { location, ...placed[next++]! };
        },
      };
      verify = writeTemp(outPath, model.root.serialize(replay));
      result.externalData = { path: dataPath, bytes: data.result.bytes };
    }
    return {
      result,
      tempPath: main.tempPath,
      loadable: verify ? { model: verify, data: data!.tempPath } : { model: main.tempPath },
      commit() {
        try {
          commitStaged(parts);
        } finally {
          if (verify) removeTemp(verify);
        }
      },
      discard() {
        for (const part of parts) part.discard();
        if (verify) removeTemp(verify);
      },
    };
  } catch (error) {
    for (const part of parts) part.discard();
    throw error;
  }
}

/** Writes `chunks` to a temporary file next to `target` (see StagedWrite); refuses a target that is a folder or a device. */
export function stageFile(target: string, chunks: readonly Uint8Array[]): StagedWrite {
  refuseUnsafeTarget(target, []);
  return stageTempFile(writeTemp(target, chunks), target);
}

/**
 * Renames staged files into place in order; when one fails, the ones not yet renamed are removed and
 * the error is thrown (those already renamed stay: a rename in the same folder fails only when the
 * folder changed under us).
 */
export function commitStaged(staged: readonly StagedWrite[]): void {
  let next = 0;
  try {
    for (; next < staged.length; next++) staged[next]!.commit();
  } catch (error) {
    for (const s of staged.slice(next)) s.discard();
    throw error;
  }
}

/** Takes a temporary file written by other means (see tempPathFor) as the staged content of `target`. */
export function stageTempFile(temp: string, target: string): StagedWrite {
  let done = false;
  return {
    result: { path: target, bytes: statSync(temp).size },
    tempPath: temp,
    loadable: { model: temp },
    commit() {
      if (done) return;
      refuseUnsafeTarget(target, []);
      try {
        renameSync(temp, target);
      } catch (error) {
        throw writeError(error, target);
      }
      done = true;
      releaseTempPath(temp);
    },
    discard() {
      if (done) return;
      done = true;
      removeTemp(temp);
    },
  };
}

/** Writes a whole file atomically: a temporary file in the same folder, renamed into place when complete. */
export function writeFileAtomic(target: string, chunks: readonly Uint8Array[]): void {
  const staged = stageFile(target, chunks);
  commitStaged([staged]);
}

/** A fresh hidden temporary path in `target`'s folder, so the final rename never crosses file systems (tracked: see removeTempFiles). */
export function tempPathFor(target: string): string {
  return tempPathNear(target);
}

/** Writes chunks to a fresh temporary file next to `target` and returns its path (removed on failure). */
export function writeTemp(target: string, chunks: readonly Uint8Array[]): string {
  const temp = tempPathFor(target);
  let fd: number;
  try {
    fd = openSync(temp, 'wx');
  } catch (error) {
    releaseTempPath(temp);
    throw writeError(error, target);
  }
  try {
    for (let i = 0; i < chunks.length; i += 512) {
      let batch = chunks.slice(i, i + 512).filter((c) => c.byteLength > 0);
      while (batch.length) {
        let written = writevSync(fd, batch as NodeJS.ArrayBufferView[]);
        // writev may write partially: drop what was written and continue.
        while (batch.length && written >= batch[0]!.byteLength) {
          written -= batch[0]!.byteLength;
          batch = batch.slice(1);
        }
        if (batch.length && written > 0) batch[0] = batch[0]!.subarray(written);
      }
    }
    closeSync(fd);
  } catch (error) {
    closeSync(fd);
    removeTemp(temp);
    throw writeError(error, target);
  }
  return temp;
}

function removeTemp(temp: string): void {
  try {
    unlinkSync(temp);
  } catch {
    // Already gone.
  }
  releaseTempPath(temp);
}

/** Refuses to replace a folder, a device or FIFO, or one of `inputs` (compared as files, not as strings). */
function refuseUnsafeTarget(target: string, inputs: readonly string[]): void {
  let stats: Stats | undefined;
  try {
    stats = statSync(target);
  } catch {
    stats = undefined;
  }
  if (stats && !stats.isFile()) {
    throw new OnnxInputError(`${target} is ${describeFileKind(stats)}, not a regular file; name a file to write.`);
  }
  const input = inputs.find((file) => isSameFile(target, file));
  if (input !== undefined) {
    throw new OnnxInputError(
      `${target} is ${path.resolve(input) === path.resolve(target) ? 'a file' : `the same file as ${input}, a file`} the model is read from; writing it would destroy an input, so choose another output path.`,
    );
  }
}

/** Turns a failed write into an error that names the file and the cause the user can fix (exit 2). */
function writeError(error: unknown, target: string): Error {
  const code = (error as NodeJS.ErrnoException).code;
  const causes: Record<string, string> = {
    ENOENT: `its folder ${path.dirname(path.resolve(target))} does not exist`,
    ENOTDIR: 'a part of its path is not a folder',
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    EROFS: 'the file system is read-only',
    ENOSPC: 'the disk is full',
    EDQUOT: 'the disk quota is exhausted',
    EISDIR: 'it is a folder',
    EEXIST: 'a file appeared at its temporary path',
  };
  const cause = code ? causes[code] : undefined;
  if (!cause) return error instanceof Error ? error : new Error(String(error));
  return new OnnxInputError(`cannot write ${target} (${cause}); choose another path or make room.`, { cause: error });
}

