import path from 'node:path';
import { benchmark, cleanText, createDefaultRegistry, parseShapeFlags, type BenchResult } from '@specprune/device-runner';
import { defineCommand } from '../command.js';
import { UsageError } from '../errors.js';
import { formatBytes, renderTable } from '../format.js';
import { log, printJson, type Io } from '../io.js';

interface BenchArgs {
  model: string;
  target: string;
  warmup: number;
  runs: number;
  repetitions: number;
  threads: number;
  shape: string[];
  browser?: string;
  ep: 'wasm' | 'webgpu';
  simd: boolean;
  host: string;
  capabilities?: string;
  'ssh-key'?: string;
  'known-hosts'?: string;
  'accept-new-host-key'?: boolean;
  'remote-runtime': 'auto' | 'node' | 'python';
  timeout: number;
  seed: number;
  json?: boolean;
}

export const benchCommand = defineCommand<BenchArgs>({
  command: 'bench <model>',
  describe: 'Benchmark a model on this machine, in a browser, on a phone or on a board over SSH',
  builder: (yargs) =>
    yargs
      .positional('model', { type: 'string', describe: 'ONNX model file', demandOption: true })
      .option('target', {
        type: 'string',
        default: 'node',
        describe: 'node | browser | manual | webdriver+http://HOST:PORT | ssh://USER@HOST[:PORT]',
      })
      .option('warmup', { type: 'number', default: 5, describe: 'untimed runs before the timed ones' })
      .option('runs', { type: 'number', default: 50, describe: 'timed runs (per repetition)' })
      .option('repetitions', { type: 'number', default: 1, describe: 'fresh sessions; figures are medians over them, with their spread' })
      .option('threads', { type: 'number', default: 0, describe: 'intra-op threads (node, ssh) or wasm threads (browsers); 0 = runtime default' })
      .option('shape', { type: 'string', array: true, default: [], describe: 'fix symbolic dims: NAME=1x3x224x224 for an input, or DIM=1 for a named dim (repeatable)' })
      .option('browser', { type: 'string', describe: 'Chromium-family executable for --target browser (default /usr/bin/chromium); for webdriver, the binary on the driver host' })
      .option('ep', { choices: ['wasm', 'webgpu'] as const, default: 'wasm' as const, describe: 'onnxruntime-web execution provider (browser targets)' })
      .option('simd', { type: 'boolean', default: true, describe: 'use the wasm SIMD build (browser targets); --no-simd to ask for the plain one' })
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'address the bench page is served on and advertised with (browser, webdriver, manual)' })
      .option('capabilities', { type: 'string', describe: 'webdriver: extra W3C capabilities as JSON, merged into alwaysMatch' })
      .option('ssh-key', { type: 'string', describe: 'ssh: private key file (default: the agent, then ~/.ssh/id_*)' })
      .option('known-hosts', { type: 'string', describe: 'ssh: known_hosts file (default ~/.ssh/known_hosts)' })
      .option('accept-new-host-key', { type: 'boolean', describe: 'ssh: trust and record a host key never seen before' })
      .option('remote-runtime', { choices: ['auto', 'node', 'python'] as const, default: 'auto' as const, describe: 'ssh: runtime on the board' })
      .option('timeout', { type: 'number', default: 300, describe: 'seconds for the whole benchmark (manual: including the wait for the phone)' })
      .option('seed', { type: 'number', default: 0, describe: 'seed of the generated inputs' })
      .option('json', { type: 'boolean', describe: 'print one JSON document on stdout' })
      .example('$0 bench model.onnx --shape x=1x3x224x224', 'onnxruntime-node on this machine (`specprune inspect` prints the --shape a model needs)')
      .example('$0 bench model.onnx --shape x=1x3x224x224 --target browser', 'onnxruntime-web in headless Chromium')
      .example('$0 bench model.onnx --shape x=1x3x224x224 --target ssh://pi@raspberrypi.local', 'on a board over SSH')
      .example('$0 bench model.onnx --shape x=1x3x224x224 --target manual --host 192.168.1.20', 'scan the QR code with a phone on the same network'),
  run: async (args, io) => bench(args, io),
});

function positiveInteger(flag: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) throw new UsageError(`--${flag} ${value} is not valid; use a whole number >= ${min}.`);
  return value;
}

async function bench(args: BenchArgs, io: Io): Promise<number> {
  const fromCwd = (file: string | undefined) => (file === undefined ? undefined : path.resolve(io.cwd, file));
  let capabilities: Record<string, unknown> | undefined;
  if (args.capabilities !== undefined) {
    try {
      capabilities = JSON.parse(args.capabilities) as Record<string, unknown>;
    } catch {
      throw new UsageError(`--capabilities is not valid JSON; write it like --capabilities '{"browserName":"chrome"}'.`);
    }
  }
  if (!(args.timeout > 0)) throw new UsageError(`--timeout ${args.timeout} is not valid; use a number of seconds > 0.`);
  const result = await benchmark({
    registry: createDefaultRegistry(),
    target: args.target,
    modelPath: path.resolve(io.cwd, args.model),
    modelLabel: args.model,
    warmup: positiveInteger('warmup', args.warmup, 0),
    runs: positiveInteger('runs', args.runs, 1),
    repetitions: positiveInteger('repetitions', args.repetitions, 1),
    threads: positiveInteger('threads', args.threads, 0),
    seed: positiveInteger('seed', args.seed, 0),
    shapes: parseShapeFlags(args.shape.map(String)),
    browserPath: fromCwd(args.browser),
    executionProvider: args.ep,
    simd: args.simd,
    host: args.host,
    capabilities,
    sshKey: fromCwd(args['ssh-key']),
    knownHosts: fromCwd(args['known-hosts']),
    acceptNewHostKey: args['accept-new-host-key'] === true,
    remoteRuntime: args['remote-runtime'],
    timeoutMs: args.timeout * 1000,
    signal: io.signal,
    env: io.env,
    log: (line) => log(io, line),
  });
  if (args.json) printJson(io, result);
  else io.stdout.write(renderResult(result));
  return 0;
}

function renderResult(result: BenchResult): string {
  const ms = (value: number) => `${value.toFixed(3)} ms`;
  // Device facts and input names come from the device (a phone, a board): never let them drive the terminal.
  const shown = (text: string) => cleanText(text, 500);
  const { device, latencyMs } = result;
  const lines = [
    `${result.model.path} (${formatBytes(result.model.bytes)}) on ${result.target}: ${[`${device.runtime} ${device.runtimeVersion}`, device.arch, device.os].map(shown).join(', ')}`,
    device.userAgent ? `user agent: ${shown(device.userAgent)}` : '',
    `inputs: ${result.inputs.map((i) => `${shown(i.name)} ${shown(i.dtype)}[${i.shape.join('x')}]`).join(', ')}`,
    `session created in ${ms(result.sessionCreateMs)}; ${result.warmup} warm-up and ${result.runs} timed runs`,
    '',
    renderTable(
      ['mean', 'p50', 'p90', 'p99', 'min', 'max', 'stdev'],
      [[latencyMs.mean, latencyMs.p50, latencyMs.p90, latencyMs.p99, latencyMs.min, latencyMs.max, latencyMs.stdev].map(ms)],
    ),
    '',
    result.peakMemoryBytes === null ? 'peak memory: not measurable here' : `peak memory: ${formatBytes(result.peakMemoryBytes)} (${shown(String(result.peakMemorySource))})`,
  ];
  if (result.repetitions) {
    lines.push(
      `${result.repetitions.count} repetitions, p50 per repetition: ${result.repetitions.latencyP50Ms.map(ms).join(', ')} (spread ${(result.repetitions.p50RelativeSpread * 100).toFixed(1)}%)`,
    );
  }
  return `${lines.filter((line, i) => line !== '' || i > 2).join('\n')}\n`;
}
