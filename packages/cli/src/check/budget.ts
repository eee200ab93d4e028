import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { UsageError } from '../errors.js';
import { oneLine, readJsonFile } from './json-file.js';
import { describeFileKind } from '@specprune/onnx-io/node';
import { parseNumber, parseSize, parseTime } from './units.js';

const require = createRequire(import.meta.url);
/** The published JSON Schema (packages/cli/budget.schema.json). */
export const budgetSchema = require('../../budget.schema.json') as Record<string, unknown>;

export type Metric =
  | 'bytes'
  | 'gzipBytes'
  | 'brotliBytes'
  | 'params'
  | 'nnz'
  | 'latencyP50Ms'
  | 'latencyP90Ms'
  | 'peakMemoryBytes'
  | 'cosine'
  | 'top1Agreement';

export interface Limit {
  metric: Metric;
  kind: 'max' | 'min';
  value: number;
  /** The key as written in the file, e.g. "maxBytes". */
  key: string;
}

export interface Budget {
  index: number;
  name: string;
  model: string;
  /** Absolute paths, resolved against the budget file's folder. */
  modelPath: string;
  referencePath?: string;
  reference?: string;
  target: string;
  limits: Limit[];
  shapes: Record<string, number[]>;
  values: Record<string, number>;
  inputs?: string;
  samples: number;
  warmup: number;
  runs: number;
  repeat: number;
}

const LIMIT_KEYS: Record<string, { metric: Metric; kind: 'max' | 'min'; parse: (v: number | string) => number }> = {
  maxBytes: { metric: 'bytes', kind: 'max', parse: parseSize },
  maxGzipBytes: { metric: 'gzipBytes', kind: 'max', parse: parseSize },
  maxBrotliBytes: { metric: 'brotliBytes', kind: 'max', parse: parseSize },
  maxParams: { metric: 'params', kind: 'max', parse: parseNumber },
  maxNnz: { metric: 'nnz', kind: 'max', parse: parseNumber },
  maxLatencyP50Ms: { metric: 'latencyP50Ms', kind: 'max', parse: parseTime },
  maxLatencyP90Ms: { metric: 'latencyP90Ms', kind: 'max', parse: parseTime },
  maxPeakMemoryBytes: { metric: 'peakMemoryBytes', kind: 'max', parse: parseSize },
  minCosine: { metric: 'cosine', kind: 'min', parse: parseNumber },
  minTop1Agreement: { metric: 'top1Agreement', kind: 'min', parse: parseNumber },
};

/** Elements of one input a budget's `shape` may ask for (2^28: 1 GiB of float32); more is a typo, not a model. */
export const MAX_SHAPE_ELEMENTS = 2 ** 28;
/** Problems listed one by one; the rest are counted (a generated file can have thousands). */
const MAX_LISTED_PROBLEMS = 20;

/** Finds the budget file: --budget FILE, else specprune.budget.json, else package.json's "specprune" key. */
export function locateBudgets(cwd: string, file: string | undefined): { file: string; raw: unknown } {
  const read = (f: string, label: string): unknown => readJsonFile(f, label, `${label} does not exist; create it or pass --budget FILE.`);
  if (file) return { file: path.resolve(cwd, file), raw: read(path.resolve(cwd, file), file) };
  const standalone = path.join(cwd, 'specprune.budget.json');
  if (existsSync(standalone)) return { file: standalone, raw: read(standalone, 'specprune.budget.json') };
  const pkg = path.join(cwd, 'package.json');
  if (existsSync(pkg)) {
    const json = read(pkg, 'package.json') as Record<string, unknown> | null;
    if (json && typeof json === 'object' && json.specprune !== undefined) return { file: pkg, raw: json.specprune };
  }
  throw new UsageError('no budget file: create specprune.budget.json (or a "specprune" key in package.json), or pass --budget FILE. See `specprune check --help`.');
}

function describeEntry(raw: unknown, index: number): string {
  const entry = (raw as { budgets?: Array<{ name?: unknown; model?: unknown }> } | null)?.budgets?.[index];
  const label = typeof entry?.name === 'string' ? entry.name : typeof entry?.model === 'string' ? entry.model : undefined;
  return `budgets[${index}]${label ? ` (${show(label)})` : ''}`;
}

/** A value as JSON, cut short and on one line, for messages (the file can hold a megabyte string). */
function show(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return oneLine(text.length > 60 ? `${text.slice(0, 40)}...${text.slice(-12)}` : text);
}

function suggest(key: string, allowed: string[]): string {
  const lower = key.toLowerCase();
  const close = allowed.find((a) => a.toLowerCase() === lower || a.toLowerCase().startsWith(lower.slice(0, 6)));
  return close ? ` (did you mean ${close}?)` : '';
}

/** Where a JSON pointer points, in words: the entry ("budgets[2] ("kws")") and the key path ("shape.x"). */
function locate(pointer: string, raw: unknown): { where: string; key: string | undefined; inEntry: boolean } {
  const tokens = pointerTokens(pointer);
  if (tokens[0] === 'budgets' && tokens.length >= 2 && /^\d+$/.test(tokens[1]!)) {
    return { where: describeEntry(raw, Number(tokens[1])), key: tokens.length > 2 ? keyPath(tokens.slice(2)) : undefined, inEntry: true };
  }
  return { where: 'the budget file', key: tokens.length ? keyPath(tokens) : undefined, inEntry: false };
}

/** JSON pointers to every Infinity/-Infinity in `value` (depth is bounded by readJsonFile). */
function nonFinitePointers(value: unknown, pointer = ''): string[] {
  if (typeof value === 'number') return Number.isFinite(value) ? [] : [pointer];
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => nonFinitePointers(v, `${pointer}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`));
}

function keyPath(tokens: string[]): string {
  return tokens.map((t) => show(t).slice(1, -1)).join('.');
}

function pointerTokens(pointer: string): string[] {
  return pointer
    .split('/')
    .slice(1)
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function explain(error: ErrorObject, raw: unknown): string | undefined {
  const { where, key, inEntry } = locate(error.instancePath, raw);
  const value = valueAt(raw, error.instancePath);
  const keyText = key ? `: ${key}` : '';
  switch (error.keyword) {
    case 'additionalProperties': {
      const extra = (error.params as { additionalProperty: string }).additionalProperty;
      const allowed = Object.keys(((budgetSchema.definitions as Record<string, { properties: object }>).budget!.properties) as object);
      return `${where}${keyText}: unknown key ${show(extra)}${inEntry && !key ? suggest(extra, allowed) : ''}.`;
    }
    case 'required':
      return `${where}${keyText}: missing "${(error.params as { missingProperty: string }).missingProperty}".`;
    case 'oneOf':
      return `${where}${keyText} ${show(value)} is not valid; sizes are bytes or "300 kB"/"2 MiB", times are ms or "5 ms"/"0.2 s".`;
    case 'type':
    case 'pattern':
    case 'minimum':
    case 'maximum':
    case 'minItems':
    case 'maxItems':
      // oneOf branches report these too; only report them when they are not inside a oneOf.
      if (error.schemaPath.includes('oneOf')) return undefined;
      return `${where}${keyText} ${error.message}${value !== undefined && typeof value !== 'object' ? ` (got ${show(value)})` : ''}.`;
    default:
      return `${where}${keyText} ${error.message}.`;
  }
}

function valueAt(raw: unknown, pointer: string): unknown {
  return pointerTokens(pointer).reduce<unknown>((v, k) => (v && typeof v === 'object' && Object.hasOwn(v, k) ? (v as Record<string, unknown>)[k] : undefined), raw);
}

/** Why `value` (a path in the budget file) is not a usable file or folder, or undefined when it is. */
function pathProblem(dir: string, file: string, key: string, value: string, want: 'file' | 'folder'): string | undefined {
  const named = `${key} ${show(value).slice(1, -1)}`;
  let stats;
  try {
    stats = statSync(path.resolve(dir, value));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return `${named} does not exist (paths are relative to ${path.basename(file)}).`;
    return `${named} cannot be read (${code ?? 'invalid path'}).`;
  }
  if (want === 'folder') return stats.isDirectory() ? undefined : `${named} is not a folder; give a folder of .npy samples.`;
  if (stats.isFile()) return undefined;
  return `${named} is ${describeFileKind(stats)}, not a model file; name the .onnx file.`;
}

/** The dims of a `shape` entry, or why they are not usable. */
function parseShape(text: string): number[] | string {
  const dims = text.split('x').map(Number);
  const bad = dims.find((d) => !Number.isSafeInteger(d) || d < 1 || d > 2 ** 31 - 1);
  if (bad !== undefined) return `has dim ${Number.isFinite(bad) ? bad : 'too large to represent'}; every dim must be a whole number from 1 to 2147483647`;
  const elements = dims.reduce((a, b) => a * b, 1);
  if (elements > MAX_SHAPE_ELEMENTS) return `asks for ${elements.toExponential(2)} elements; at most ${MAX_SHAPE_ELEMENTS} (1 GiB of float32) per input`;
  return dims;
}

/**
 * The budget file of `prune --budget`, checked before any pruning: read and validated like `check` does,
 * with `willWrite` (the model prune is about to write) counted as present. Throws UsageError.
 */
export function preflightBudgets(cwd: string, file: string, willWrite: readonly string[]): void {
  const located = locateBudgets(cwd, file);
  parseBudgets(located.raw, located.file, { willWrite: willWrite.map((f) => path.resolve(cwd, f)) });
}

/**
 * Validates budgets against the published JSON Schema, collecting every problem (unknown keys, bad units,
 * numbers too large to represent, counts beyond the schema's maxima, missing or special model files)
 * into one UsageError that names each entry and key.
 */
export function parseBudgets(raw: unknown, file: string, options: { willWrite?: readonly string[] } = {}): Budget[] {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(budgetSchema);
  const problems: string[] = [];
  /** Values the schema already refused: their parse errors would say the same again. */
  const refused = new Set<string>();
  // JSON.parse turns 1e309 and 400-digit numbers into Infinity, which the schema's number type accepts.
  const overflowing = new Set(nonFinitePointers(raw));
  for (const pointer of overflowing) {
    refused.add(pointer);
    const { where, key } = locate(pointer, raw);
    problems.push(`${where}${key ? `: ${key}` : ''} is a number too large to represent (over 1.8e308); write a realistic value.`);
  }
  if (!validate(raw)) {
    for (const error of validate.errors ?? []) {
      if (overflowing.has(error.instancePath)) continue;
      refused.add(error.instancePath);
      const text = explain(error, raw);
      if (text && !problems.includes(text)) problems.push(text);
    }
  }
  const dir = path.dirname(file);
  const budgets: Budget[] = [];
  const entries = (raw as { budgets?: unknown[] } | null)?.budgets;
  if (Array.isArray(entries)) {
    entries.forEach((entry, index) => {
      if (!entry || typeof entry !== 'object' || Array.isArray(entry)) return;
      const e = entry as Record<string, unknown>;
      const where = describeEntry(raw, index);
      const report = (text: string | undefined) => {
        if (text && !problems.includes(`${where}: ${text}`)) problems.push(`${where}: ${text}`);
      };
      const pending = (value: string) => (options.willWrite ?? []).includes(path.resolve(dir, value));
      if (typeof e.model === 'string' && !pending(e.model)) report(pathProblem(dir, file, 'model', e.model, 'file'));
      if (typeof e.reference === 'string') report(pathProblem(dir, file, 'reference', e.reference, 'file'));
      if (typeof e.inputs === 'string') report(pathProblem(dir, file, 'inputs', e.inputs, 'folder'));
      if ((e.minCosine !== undefined || e.minTop1Agreement !== undefined) && typeof e.reference !== 'string') {
        report('minCosine/minTop1Agreement need a "reference" model to compare against.');
      }
      const limits: Limit[] = [];
      for (const [key, spec] of Object.entries(LIMIT_KEYS)) {
        if (e[key] === undefined) continue;
        try {
          limits.push({ metric: spec.metric, kind: spec.kind, value: spec.parse(e[key] as number | string), key });
        } catch (error) {
          if (!refused.has(`/budgets/${index}/${key}`)) report(`${key} ${(error as Error).message}.`);
        }
      }
      const shapes: Record<string, number[]> = {};
      const shapeMap = e.shape && typeof e.shape === 'object' ? (e.shape as Record<string, unknown>) : {};
      for (const [name, dims] of Object.entries(shapeMap)) {
        if (typeof dims !== 'string' || !/^\d+(x\d+)*$/.test(dims)) continue; // reported by the schema
        const parsed = parseShape(dims);
        if (typeof parsed === 'string') report(`shape.${show(name).slice(1, -1)} ${show(dims)} ${parsed}.`);
        else shapes[name] = parsed;
      }
      const count = (key: 'samples' | 'warmup' | 'runs' | 'repeat', fallback: number) => (typeof e[key] === 'number' ? (e[key] as number) : fallback);
      const budget: Budget = {
        index,
        name: typeof e.name === 'string' ? e.name : String(e.model),
        model: String(e.model),
        modelPath: path.resolve(dir, String(e.model)),
        target: typeof e.target === 'string' ? e.target : 'node',
        limits,
        shapes,
        values: e.value && typeof e.value === 'object' ? (e.value as Record<string, number>) : {},
        samples: count('samples', 16),
        warmup: count('warmup', 5),
        runs: count('runs', 30),
        repeat: count('repeat', 3),
      };
      if (typeof e.reference === 'string') {
        budget.reference = e.reference;
        budget.referencePath = path.resolve(dir, e.reference);
      }
      if (typeof e.inputs === 'string') budget.inputs = path.resolve(dir, e.inputs);
      budgets.push(budget);
    });
  }
  if (problems.length === 1) throw new UsageError(`${path.basename(file)}: ${problems[0]}`);
  if (problems.length) {
    const listed = problems.slice(0, MAX_LISTED_PROBLEMS);
    const more = problems.length - listed.length;
    throw new UsageError(
      `${path.basename(file)} has ${problems.length} problems:\n  - ${listed.join('\n  - ')}${more ? `\n  - ... and ${more} more; fix these first.` : ''}`,
    );
  }
  return budgets;
}
