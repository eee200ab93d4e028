import { DeviceError } from './errors.js';
import type { BoardCheck } from './targets/ssh.js';
import type { Logger } from './types.js';

export type { BoardCheck } from './targets/ssh.js';

export interface BoardCheckOptions {
  /** ssh://USER@HOST[:PORT] */
  target: string;
  sshKey?: string;
  knownHosts?: string;
  acceptNewHostKey?: boolean;
  /** Whole check limit in ms. */
  timeoutMs: number;
  signal?: AbortSignal;
  env: Record<string, string | undefined>;
  log: Logger;
}

/**
 * Connects to a board over SSH and reports what `bench --target ssh://...` needs there: arch, OS, node version,
 * free disk and memory, and whether the runtime is cached. Unreachable boards and refused keys throw DeviceError.
 */
export async function checkBoard(options: BoardCheckOptions): Promise<BoardCheck> {
  let url: URL;
  try {
    url = new URL(options.target);
  } catch {
    url = new URL('invalid:');
  }
  if (url.protocol !== 'ssh:') throw new DeviceError(`${options.target} is not an SSH board; write it like ssh://pi@raspberrypi.local or ssh://pi@192.168.1.7:2222.`);
  const { SshTarget } = await import('./targets/ssh.js'); // only when used, like the registry's targets
  const target = new SshTarget(
    { scheme: 'ssh', raw: options.target, url },
    {
      modelPath: '',
      modelLabel: '',
      timeoutMs: options.timeoutMs,
      signal: options.signal,
      log: options.log,
      env: options.env,
      sshKey: options.sshKey,
      knownHosts: options.knownHosts,
      acceptNewHostKey: options.acceptNewHostKey,
    },
  );
  return target.checkBoard();
}
