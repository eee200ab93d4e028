import path from 'node:path';
import { checkBoard, type BoardCheck } from '@specprune/device-runner';
import { defineCommand } from '../command.js';
import { UsageError } from '../errors.js';
import { formatBytes } from '../format.js';
import { log, printJson, type Io } from '../io.js';

interface BoardArgs {
  action: string;
  target: string;
  'ssh-key'?: string;
  'known-hosts'?: string;
  'accept-new-host-key'?: boolean;
  timeout: number;
  json?: boolean;
}

export const boardCommand = defineCommand<BoardArgs>({
  command: 'board <action> <target>',
  describe: 'Check a board over SSH before benchmarking on it (action: check)',
  builder: (yargs) =>
    yargs
      .positional('action', { type: 'string', choices: ['check'], describe: 'check: reachable, arch, OS, node, free disk and memory, runtime cached', demandOption: true })
      .positional('target', { type: 'string', describe: 'ssh://USER@HOST[:PORT]', demandOption: true })
      .option('ssh-key', { type: 'string', describe: 'private key file (default: the agent, then ~/.ssh/id_*)' })
      .option('known-hosts', { type: 'string', describe: 'known_hosts file (default ~/.ssh/known_hosts)' })
      .option('accept-new-host-key', { type: 'boolean', describe: 'trust and record a host key never seen before' })
      .option('timeout', { type: 'number', default: 60, describe: 'seconds for the whole check' })
      .option('json', { type: 'boolean', describe: 'print one JSON document on stdout' })
      .example('$0 board check ssh://pi@raspberrypi.local', 'is this Pi ready for bench --target ssh://...? (exit 1 when not)'),
  run: async (args, io) => board(args, io),
});

async function board(args: BoardArgs, io: Io): Promise<number> {
  const fromCwd = (file: string | undefined) => (file === undefined ? undefined : path.resolve(io.cwd, file));
  if (!(args.timeout > 0)) throw new UsageError(`--timeout ${args.timeout} is not valid; use a number of seconds > 0.`);
  const report = await checkBoard({
    target: args.target,
    sshKey: fromCwd(args['ssh-key']),
    knownHosts: fromCwd(args['known-hosts']),
    acceptNewHostKey: args['accept-new-host-key'] === true,
    timeoutMs: args.timeout * 1000,
    signal: io.signal,
    env: io.env,
    log: (line) => log(io, line),
  });
  if (args.json) printJson(io, { ...report, ready: report.problems.length === 0 });
  else io.stdout.write(renderReport(report));
  return report.problems.length === 0 ? 0 : 1;
}

function renderReport(report: BoardCheck): string {
  const bytes = (value: number | null) => (value === null ? 'unknown' : formatBytes(value));
  const { runtime } = report;
  const runtimeLine = runtime.onBoard
    ? 'the board has its own onnxruntime-node'
    : !runtime.supported
      ? `onnxruntime-node ${runtime.version} has no binary for ${runtime.platform}`
      : runtime.cached
        ? `onnxruntime-node ${runtime.version} for ${runtime.platform} cached in ${runtime.cacheDir}`
        : `onnxruntime-node ${runtime.version} for ${runtime.platform} not cached yet (the first bench uploads it${runtime.cacheDir ? ` to ${runtime.cacheDir}` : ''})`;
  const lines = [
    `${report.target}: reachable`,
    `arch:    ${report.arch} (${report.machine})`,
    `os:      ${report.os}`,
    `node:    ${report.node.version ?? 'missing'}${report.node.ok ? '' : ' (needs 18 or later)'}`,
    `disk:    ${bytes(report.freeDiskBytes.tmp)} free in the temp folder, ${bytes(report.freeDiskBytes.cache)} for the runtime cache`,
    `memory:  ${bytes(report.memoryBytes.available)} available of ${bytes(report.memoryBytes.total)}`,
    `runtime: ${runtimeLine}`,
    report.problems.length === 0 ? 'ready for: specprune bench MODEL --target ' + report.target : '',
    ...report.problems.map((problem) => `problem: ${problem}`),
  ];
  return `${lines.filter(Boolean).join('\n')}\n`;
}
