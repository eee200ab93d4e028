import { cleanText } from './clean-text.js';
import { isInputDtype } from './input-spec.js';
import type { DeviceInfo, Measurement, MemorySource, RepetitionSample } from './types.js';

/**
 * What the bench page POSTs to /result (payload/browser-main.ts): its measurement, or the stage that
 * failed and why. The page runs on a device we do not control, so the body is checked field by field
 * and rebuilt from the known fields only: strings lose control characters and are cut to a bound,
 * numbers are finite, arrays have the lengths this run asked for.
 */
export type PagePost = { ok: true; measurement: Measurement } | { ok: false; stage: string; message: string };

/** What this run asked the page for; a measurement of another size is refused. */
export interface PagePostExpectation {
  runs: number;
  repetitions: number;
}

export type PagePostCheck = { ok: true; value: PagePost } | { ok: false; reason: string };

/** Longest device string, input name or failure message kept, in characters. */
export const MAX_TEXT_CHARS = { device: 500, name: 500, stage: 40, message: 1000 } as const;
/** More inputs or a higher rank than any model the pages run. */
const MAX_INPUTS = 1000;
const MAX_RANK = 64;

const MEMORY_SOURCES: ReadonlySet<string> = new Set<MemorySource>(['VmHWM', 'maxRSS', 'ru_maxrss', 'measureUserAgentSpecificMemory', 'wasmHeap']);

class ShapeError extends Error {}

/** Checks a parsed /result body; the reason names the first bad field (never echoes its value). */
export function checkPagePost(body: unknown, expected: PagePostExpectation): PagePostCheck {
  try {
    return { ok: true, value: readPagePost(body, expected) };
  } catch (error) {
    if (error instanceof ShapeError) return { ok: false, reason: error.message };
    throw error;
  }
}

function readPagePost(body: unknown, expected: PagePostExpectation): PagePost {
  const post = readObject(body, 'the result');
  if (post.ok === true) return { ok: true, measurement: readMeasurement(post.measurement, expected) };
  if (post.ok === false) {
    return {
      ok: false,
      stage: readString(post.stage, 'stage', MAX_TEXT_CHARS.stage),
      message: readString(post.message, 'message', MAX_TEXT_CHARS.message),
    };
  }
  throw new ShapeError('ok is not true or false');
}

function readMeasurement(value: unknown, expected: PagePostExpectation): Measurement {
  const measurement = readObject(value, 'measurement');
  const repetitions = readArray(measurement.repetitions, 'measurement.repetitions', expected.repetitions, expected.repetitions).map(
    (item, i): RepetitionSample => {
      const path = `measurement.repetitions[${i}]`;
      const repetition = readObject(item, path);
      return {
        sessionCreateMs: readNumber(repetition.sessionCreateMs, `${path}.sessionCreateMs`),
        latenciesMs: readArray(repetition.latenciesMs, `${path}.latenciesMs`, expected.runs, expected.runs).map((latency, j) =>
          readNumber(latency, `${path}.latenciesMs[${j}]`),
        ),
      };
    },
  );
  const inputs = readArray(measurement.inputs, 'measurement.inputs', 0, MAX_INPUTS).map((item, i) => {
    const path = `measurement.inputs[${i}]`;
    const input = readObject(item, path);
    const dtype = readString(input.dtype, `${path}.dtype`, 20);
    if (!isInputDtype(dtype)) throw new ShapeError(`${path}.dtype is not a known element type`);
    const checked: Measurement['inputs'][number] & { assumed?: string[] } = {
      name: readString(input.name, `${path}.name`, MAX_TEXT_CHARS.name),
      dtype,
      shape: readArray(input.shape, `${path}.shape`, 0, MAX_RANK).map((dim, j) => readNumber(dim, `${path}.shape[${j}]`, true)),
    };
    // Open dims the page filled by itself (resolveInputs), when it says so.
    if (input.assumed !== undefined) {
      checked.assumed = readArray(input.assumed, `${path}.assumed`, 0, MAX_RANK).map((note, j) => readString(note, `${path}.assumed[${j}]`, MAX_TEXT_CHARS.name));
    }
    return checked;
  });
  const peakMemoryBytes = measurement.peakMemoryBytes === null ? null : readNumber(measurement.peakMemoryBytes, 'measurement.peakMemoryBytes', true);
  let peakMemorySource: MemorySource | null = null;
  if (measurement.peakMemorySource !== null) {
    const source = readString(measurement.peakMemorySource, 'measurement.peakMemorySource', 40);
    if (!MEMORY_SOURCES.has(source)) throw new ShapeError('measurement.peakMemorySource is not a known memory source');
    peakMemorySource = source as MemorySource;
  }
  return { device: readDevice(measurement.device), repetitions, inputs, peakMemoryBytes, peakMemorySource };
}

/** The device facts, in the order the page sends them (the JSON output keeps that order). */
function readDevice(value: unknown): DeviceInfo {
  const device = readObject(value, 'measurement.device');
  const text = (key: keyof DeviceInfo) => readString(device[key], `measurement.device.${key}`, MAX_TEXT_CHARS.device);
  const info: DeviceInfo = { arch: text('arch'), os: text('os'), runtime: text('runtime'), runtimeVersion: text('runtimeVersion') };
  if (device.userAgent !== undefined) info.userAgent = text('userAgent');
  if (device.engine !== undefined) info.engine = text('engine');
  if (device.crossOriginIsolated !== undefined) info.crossOriginIsolated = readBoolean(device.crossOriginIsolated, 'measurement.device.crossOriginIsolated');
  // NaN thread counts arrive as null (JSON has no NaN): leave the fact out rather than invent one.
  if (device.wasmThreads !== undefined && device.wasmThreads !== null) info.wasmThreads = readNumber(device.wasmThreads, 'measurement.device.wasmThreads', true);
  if (device.wasmSimd !== undefined) info.wasmSimd = readBoolean(device.wasmSimd, 'measurement.device.wasmSimd');
  return info;
}

function readObject(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ShapeError(`${path} is not an object`);
  return value as Record<string, unknown>;
}

function readArray(value: unknown, path: string, min: number, max: number): unknown[] {
  if (!Array.isArray(value)) throw new ShapeError(`${path} is not an array`);
  if (value.length < min || value.length > max) {
    throw new ShapeError(`${path} has ${value.length} entries; ${min === max ? `this run expects ${min}` : `expected ${min} to ${max}`}`);
  }
  return value;
}

function readString(value: unknown, path: string, maxChars: number): string {
  if (typeof value !== 'string') throw new ShapeError(`${path} is not a string`);
  return cleanText(value, maxChars);
}

function readBoolean(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') throw new ShapeError(`${path} is not true or false`);
  return value;
}

/** A finite number >= 0 (JSON numbers such as 1e400 parse to Infinity); `integer` asks for a safe integer. */
function readNumber(value: unknown, path: string, integer = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (integer && !Number.isSafeInteger(value))) {
    throw new ShapeError(`${path} is not a ${integer ? 'whole number' : 'finite number'} >= 0`);
  }
  return value;
}
