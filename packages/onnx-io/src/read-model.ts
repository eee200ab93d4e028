import path from 'node:path';
import { nodeExternalFiles } from './external-files.js';
import type { OnnxModel } from './model.js';
import { readRegularFile, type FileWording } from './node-files.js';
import { parseModel } from './parse-model.js';

export interface ReadOptions {
  /** Name used in error messages (defaults to the path). */
  label?: string;
  /** Folder that external data is resolved against (defaults to the model file's folder). */
  dir?: string;
}

/** How a model file that cannot be read is named in errors: "X does not exist; check the path of the model." */
export const MODEL_FILE_WORDING = (label: string): FileWording => ({ label, advice: 'check the path of the model' });

/**
 * Reads and parses an ONNX model file; its external data is resolved against its folder (checked to stay
 * inside it) and read from disk on demand. Throws OnnxInputError (exit 2) for anything that is not a valid model.
 */
export function readModel(file: string, options: ReadOptions = {}): OnnxModel {
  const label = options.label ?? file;
  const bytes = readRegularFile(file, MODEL_FILE_WORDING(label));
  const model = parseModel(bytes, { label, dir: options.dir ?? path.dirname(path.resolve(file)), path: file, externalFiles: nodeExternalFiles });
  model.ownsBytes = true;
  return model;
}
