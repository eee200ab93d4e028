import { OnnxInputError } from './errors.js';
import type { ExternalDataFiles, ExternalDataRef, OnnxModel } from './model.js';

/**
 * Reads TensorProto.external_data into a ref. A location that is absolute or leaves the model's folder
 * is refused here (no file is touched); with `files` (the Node entry) and a folder, the location is also
 * resolved on disk, refusing one that leaves the folder through a symbolic link (a model file must not
 * make us read arbitrary files). Without them the ref is only recorded: reading its bytes needs the Node entry.
 */
export function resolveExternalData(
  entries: Record<string, string>,
  dir: string | undefined,
  files: ExternalDataFiles | undefined,
  modelLabel: string,
  tensorLabel: string,
): ExternalDataRef {
  const location = entries.location;
  if (!location) throw new OnnxInputError(`${modelLabel}: ${tensorLabel} is stored externally but names no location.`);
  const normalized = location.replace(/\\/g, '/');
  // Absolute for POSIX ("/x") or Windows ("C:\x", "C:/x", "\\server\x", "\x").
  if (/^(?:[a-zA-Z]:)?\//.test(normalized) || normalized.split('/').includes('..') || location.includes('\0')) {
    throw new OnnxInputError(
      `${modelLabel}: ${tensorLabel} has an unsafe external data location "${location}"; it must be a relative path inside the model's folder.`,
    );
  }
  const resolved = dir === undefined ? normalized : files ? files.resolve(location, dir, modelLabel, tensorLabel) : joinPath(dir, normalized);
  const offset = parseNonNegative(entries.offset ?? '0', 'offset', modelLabel, tensorLabel);
  const ref: ExternalDataRef = { location, path: resolved, offset };
  if (entries.length !== undefined) ref.length = parseNonNegative(entries.length, 'length', modelLabel, tensorLabel);
  return ref;
}

/** `dir` + "/" + a relative location, without a doubled separator (no file system is consulted). */
function joinPath(dir: string, relative: string): string {
  return dir === '' ? relative : `${dir.replace(/[\\/]+$/, '')}/${relative}`;
}

function parseNonNegative(text: string, key: string, modelLabel: string, tensorLabel: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value)) {
    throw new OnnxInputError(`${modelLabel}: ${tensorLabel} has an invalid external data ${key} "${text}".`);
  }
  return value;
}

/**
 * The bytes of an external tensor (`expected`: dims x element size), read through the model's
 * ExternalDataFiles. A model parsed from bytes has none, and a model parsed without its folder cannot
 * know where the file is: both are refused with an OnnxInputError saying to read the model with the Node entry.
 */
export function readExternalBytes(model: OnnxModel, ref: ExternalDataRef, expected: number, modelLabel: string, tensorLabel: string): Uint8Array {
  const stored = `${modelLabel}: ${tensorLabel} is stored in external file "${ref.location}"`;
  if (!model.externalFiles) {
    throw new OnnxInputError(
      `${stored}, which a model parsed from bytes cannot read; external data needs the Node entry: read the model from its file with readModel from @specprune/onnx-io/node, or inline the data first.`,
    );
  }
  if (model.dir === undefined) throw new OnnxInputError(`${stored}; read the model from its file so the folder is known.`);
  return model.externalFiles.read(ref, expected, modelLabel, tensorLabel);
}
