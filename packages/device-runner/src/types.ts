/**
 * Shapes shared by every target. The payload (the bench logic that runs inside the child process, the
 * browser or on the board) reports a `Measurement`; the host turns it into a `BenchResult`.
 */

/** Element types the input generator can fill; see `input-spec.ts` for the table. */
export type InputDtype =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'bool';

/** How the peak memory figure was obtained; figures from different sources are not comparable. */
export type MemorySource =
  | 'VmHWM' // peak resident set of the inference process, from /proc/self/status (node, ssh)
  | 'maxRSS' // process.resourceUsage().maxRSS where /proc is absent
  | 'ru_maxrss' // python's resource.getrusage (ssh with --remote-runtime python)
  | 'measureUserAgentSpecificMemory' // whole page, after the runs (browser targets)
  | 'wasmHeap'; // size of the WebAssembly memories onnxruntime-web created (browser fallback)

export interface DeviceInfo {
  arch: string;
  os: string;
  runtime: string;
  runtimeVersion: string;
  userAgent?: string;
  /** What executes the runtime: "node v20.11.1", "Chromium 156.0...", "Python 3.11.2". */
  engine?: string;
  /** Browser targets: whether the page was cross-origin isolated (needed for wasm threads). */
  crossOriginIsolated?: boolean;
  /** Browser targets: wasm threads onnxruntime-web was told to use. */
  wasmThreads?: number;
  /** Browser targets: whether the browser validates WebAssembly SIMD. */
  wasmSimd?: boolean;
}

/** Summary statistics of one set of latencies, in milliseconds. */
export interface LatencyStats {
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  min: number;
  max: number;
  stdev: number;
}

/** What the payload measures in one repetition. */
export interface RepetitionSample {
  sessionCreateMs: number;
  latenciesMs: number[];
}

/** What the payload sends back, identical for every target. */
export interface Measurement {
  device: DeviceInfo;
  repetitions: RepetitionSample[];
  peakMemoryBytes: number | null;
  peakMemorySource: MemorySource | null;
  /** Resolved input shapes the runs used, by input name. */
  inputs: { name: string; dtype: InputDtype; shape: number[] }[];
}

/** The `specprune bench --json` document (CLI.md `bench`). */
export interface BenchResult {
  target: string;
  device: DeviceInfo;
  model: { path: string; bytes: number };
  inputs: { name: string; dtype: InputDtype; shape: number[] }[];
  warmup: number;
  runs: number;
  /** With several repetitions: the median over repetitions. */
  sessionCreateMs: number;
  /** With several repetitions: each statistic is the median of that statistic over repetitions. */
  latencyMs: LatencyStats;
  peakMemoryBytes: number | null;
  peakMemorySource: MemorySource | null;
  /** Present when more than one repetition ran. */
  repetitions?: {
    count: number;
    sessionCreateMs: number[];
    latencyP50Ms: number[];
    /** (max - min) / median of the per-repetition p50s. */
    p50RelativeSpread: number;
  };
}

/** Settings the payload needs; serialised to JSON and sent to wherever the payload runs. */
export interface PayloadConfig {
  warmup: number;
  runs: number;
  repetitions: number;
  /** Fixed dims: by input name (whole shape) or by symbolic dim name (one number). */
  shapes: Record<string, number[]>;
  /** Seed of the input generator; the same seed gives the same inputs on every target. */
  seed: number;
  /** Intra-op threads (node, ssh) or wasm threads (browser); 0 lets the runtime choose. */
  threads: number;
  /** Browser only. */
  executionProvider: 'wasm' | 'webgpu';
  /** Browser only. onnxruntime-web 1.30 ships SIMD builds only, so false is refused (see targets/page.ts). */
  simd: boolean;
}

/** The JSON file the node payload reads (local child process and ssh boards). */
export interface NodePayloadConfig extends PayloadConfig {
  /** Model file, absolute or relative to the payload's working directory. */
  model: string;
  /** Absolute path of onnxruntime-node's entry, or null to resolve it from the working directory. */
  runtimeModule: string | null;
  /** ssh: folder the payload removes itself when the host goes away mid-run (stdin closes). */
  cleanupDir?: string;
}

/** Lines the payloads print on stdout; everything else they print is progress on stderr. */
export const RESULT_MARKER = '@@specprune-result ';
export const ERROR_MARKER = '@@specprune-error ';

/** Progress lines for a human (the CLI writes them to stderr). */
export type Logger = (line: string) => void;
