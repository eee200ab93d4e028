import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { UsageError } from '../errors.js';
import { parseSize, parseTime } from './units.js';

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
  maxParams: { metric: 'params', kind: 'max', parse: Number },
  maxNnz: { metric: 'nnz', kind: 'max', parse: Number },
  maxLatencyP50Ms: { metric: 'latencyP50Ms', kind: 'max', parse: parseTime },
  maxLatencyP90Ms: { metric: 'latencyP90Ms', kind: 'max', parse: parseTime },
  maxPeakMemoryBytes: { metric: 'peakMemoryBytes', kind: 'max', parse: parseSize },
  minCosine: { metric: 'cosine', kind: 'min', parse: Number },
  minTop1Agreement: { metric: 'top1Agreement', kind: 'min', parse: Number },
};

/** Finds the budget file: --budget FILE, else specprune.budget.json, else package.json's "specprune" key. */
export function locateBudgets(cwd: string, file: string | undefined): { file: string; raw: unknown } {
  const read = (f: string, label: string): unknown => {
    try {
      return JSON.parse(readFileSync(f, 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new UsageError(`${label} does not exist; create it or pass --budget FILE.`);
      throw new UsageError(`${label} is not valid JSON: ${(error as Error).message}.`);
    }
  };
  if (file) return { file: path.resolve(cwd, file), raw: read(path.resolve(cwd, file), file) };
  const standalone = path.join(cwd, 'specprune.budget.json');
  if (existsSync(standalone)) return { file: standalone, raw: read(standalone, 'specprune.budget.json') };
  const pkg = path.join(cwd, 'package.json');
  if (existsSync(pkg)) {
    const json = read(pkg, 'package.json') as Record<string, unknown>;
    if (json.specprune !== undefined) return { file: pkg, raw: json.specprune };
  }
  throw new UsageError('no budget file: create specprune.budget.json (or a "specprune" key in package.json), or pass --budget FILE. See `specprune check --help`.');
}

function describeEntry(raw: unknown, index: number): string {
  const entry = (raw as { budgets?: Array<{ name?: unknown; model?: unknown }> }).budgets?.[index];
  const label = typeof entry?.name === 'string' ? entry.name : typeof entry?.model === 'string' ? entry.model : undefined;
  return `budgets[${index}]${label ? ` ("${label}")` : ''}`;
}

function suggest(key: string, allowed: string[]): string {
  const lower = key.toLowerCase();
  const close = allowed.find((a) => a.toLowerCase() === lower || a.toLowerCase().startsWith(lower.slice(0, 6)));
  return close ? ` (did you mean ${close}?)` : '';
}

function explain(error: ErrorObject, raw: unknown): string | undefined {
  const match = /^\/budgets\/(\d+)(?:\/(\w+))?/.exec(error.instancePath);
  const where = match ? describeEntry(raw, Number(match[1])) : 'the budget file';
  const key = match?.[2];
  switch (error.keyword) {
    case 'additionalProperties': {
      const extra = (error.params as { additionalProperty: string }).additionalProperty;
      const allowed = Object.keys(((budgetSchema.definitions as Record<string, { properties: object }>).budget!.properties) as object);
      return `${where}: unknown key "${extra}"${match ? suggest(extra, allowed) : ''}.`;
    }
    case 'required':
      return `${where}: missing "${(error.params as { missingProperty: string }).missingProperty}".`;
    case 'oneOf':
      return `${where}: ${key} ${JSON.stringify(valueAt(raw, error.instancePath))} is not valid; sizes are bytes or "300 kB"/"2 MiB", times are ms or "5 ms"/"0.2 s".`;
    case 'type':
    case 'pattern':
    case 'minimum':
    case 'maximum':
    case 'minItems':
      // oneOf branches report these too; only report them when they are not inside a oneOf.
      if (error.schemaPath.includes('oneOf')) return undefined;
      return `${where}${key ? `: ${key}` : ''} ${error.message}${valueAt(raw, error.instancePath) !== undefined ? ` (got ${JSON.stringify(valueAt(raw, error.instancePath))})` : ''}.`;
    default:
      return `${where}${key ? `: ${key}` : ''} ${error.message}.`;
  }
}

function valueAt(raw: unknown, pointer: string): unknown {
  return pointer
    .split('/')
    .slice(1)
    .reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), raw);
}

/**
 * Validates budgets against the published JSON Schema, collecting every problem (unknown keys, bad units,
 * missing models) into one UsageError that names each entry and key.
 */
export function parseBudgets(raw: unknown, file: string): Budget[] {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(budgetSchema);
  const problems: string[] = [];
  if (!validate(raw)) {
    for (const error of validate.errors ?? []) {
      const text = explain(error, raw);
      if (text && !problems.includes(text)) problems.push(text);
    }
  }
  const dir = path.dirname(file);
  const budgets: Budget[] = [];
  const entries = (raw as { budgets?: unknown[] })?.budgets;
  if (Array.isArray(entries)) {
    entries.forEach((entry, index) => {
      if (!entry || typeof entry !== 'object') return;
      const e = entry as Record<string, unknown>;
      const where = describeEntry(raw, index);
      if (typeof e.model === 'string' && !existsSync(path.resolve(dir, e.model))) problems.push(`${where}: model ${e.model} does not exist (paths are relative to ${path.basename(file)}).`);
      if (typeof e.reference === 'string' && !existsSync(path.resolve(dir, e.reference))) problems.push(`${where}: reference ${e.reference} does not exist.`);
      if ((e.minCosine !== undefined || e.minTop1Agreement !== undefined) && typeof e.reference !== 'string') {
        problems.push(`${where}: minCosine/minTop1Agreement need a "reference" model to compare against.`);
      }
      const limits: Limit[] = [];
      for (const [key, spec] of Object.entries(LIMIT_KEYS)) {
        if (e[key] === undefined) continue;
        try {
          limits.push({ metric: spec.metric, kind: spec.kind, value: spec.parse(e[key] as number | string), key });
        } catch {
          /* reported by the schema */
        }
      }
      const shapes: Record<string, number[]> = {};
      for (const [name, dims] of Object.entries((e.shape as Record<string, string>) ?? {})) shapes[name] = String(dims).split('x').map(Number);
      const budget: Budget = {
        index,
        name: typeof e.name === 'string' ? e.name : String(e.model),
        model: String(e.model),
        modelPath: path.resolve(dir, String(e.model)),
        target: typeof e.target === 'string' ? e.target : 'node',
        limits,
        shapes,
        values: (e.value as Record<string, number>) ?? {},
        samples: typeof e.samples === 'number' ? e.samples : 16,
        warmup: typeof e.warmup === 'number' ? e.warmup : 5,
        runs: typeof e.runs === 'number' ? e.runs : 30,
        repeat: typeof e.repeat === 'number' ? e.repeat : 3,
      };
      if (typeof e.reference === 'string') {
        budget.reference = e.reference;
        budget.referencePath = path.resolve(dir, e.reference);
      }
      if (typeof e.inputs === 'string') budget.inputs = path.resolve(dir, e.inputs);
      budgets.push(budget);
    });
  }
  if (problems.length) {
    throw new UsageError(`${path.basename(file)} has ${problems.length} problem${problems.length > 1 ? 's' : ''}:\n  - ${problems.join('\n  - ')}`);
  }
  return budgets;
}
