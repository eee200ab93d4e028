import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * Every model a CLI test writes with the default (spec-valid) options, so that `onnx.checker` can be
 * run on all of them once per test file (see checker.setup.ts). Options that are onnxruntime-only by
 * name are left out.
 */
const written = new Set<string>();

export function recordWrittenModel(argv: readonly string[], cwd: string): void {
  if (argv[0] !== 'prune' || argv.includes('--ort-only-sparse-indices')) return;
  const at = argv.findIndex((a) => a === '-o' || a === '--output');
  if (at >= 0 && argv[at + 1]) recordModelFile(path.resolve(cwd, argv[at + 1]!));
}

/** A model file a test wrote by other means (e.g. bytes a browser page returned), checked with the others. */
export function recordModelFile(file: string): void {
  written.add(file);
}

/** Runs Debian's onnx.checker over the recorded models that still exist; returns "file: reason" lines. */
export function checkWrittenModels(): { checked: number; failures: string[] } {
  const files = [...written].filter((f) => existsSync(f));
  written.clear();
  if (files.length === 0) return { checked: 0, failures: [] };
  const script = `
import sys, onnx
for f in sys.argv[1:]:
    try:
        onnx.checker.check_model(f)
    except Exception as e:
        print(f + ': ' + str(e).splitlines()[0])`;
  const out = execFileSync('/usr/bin/python3', ['-c', script, ...files], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  return { checked: files.length, failures: out.split('\n').filter(Boolean) };
}
