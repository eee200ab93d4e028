import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { tempDir } from './bench-helpers.js';

/** A private OpenSSH server on 127.0.0.1 playing the board, with keys generated for the test. */
export interface TestBoard {
  port: number;
  dir: string;
  /** TMPDIR of sessions on the board: must be empty after every bench. */
  boardTmp: string;
  /** XDG_CACHE_HOME of sessions on the board: the runtime cache lives in specprune/runtime under it. */
  boardCache: string;
  userKey: string;
  /** Not in authorized_keys. */
  otherKey: string;
  /** known_hosts with the board's real host key. */
  knownHosts: string;
  /** The line known_hosts holds for the board. */
  knownHostsLine: string;
  /** Kills the connections sshd is serving (not the server). */
  dropConnections(): void;
  stop(): Promise<void>;
}

function keygen(file: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file]);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`sshd exited: ${log()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`sshd did not listen on ${port}: ${log()}`);
}

export async function startTestBoard(): Promise<TestBoard> {
  const dir = tempDir('sshd');
  const boardTmp = path.join(dir, 'board-tmp');
  mkdirSync(boardTmp);
  const boardCache = path.join(dir, 'board-cache');
  mkdirSync('/run/sshd', { recursive: true });
  const hostKey = path.join(dir, 'host_key');
  const userKey = path.join(dir, 'user_key');
  const otherKey = path.join(dir, 'other_key');
  for (const key of [hostKey, userKey, otherKey]) keygen(key);
  const authorized = path.join(dir, 'authorized_keys');
  writeFileSync(authorized, readFileSync(`${userKey}.pub`));
  const port = await freePort();
  const config = path.join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${authorized}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `SetEnv TMPDIR=${boardTmp} XDG_CACHE_HOME=${boardCache}`,
      'Subsystem sftp internal-sftp',
      '',
    ].join('\n'),
  );
  let output = '';
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await waitForPort(port, child, () => output);
  const [type, key] = readFileSync(`${hostKey}.pub`, 'utf8').split(' ');
  const knownHostsLine = `[127.0.0.1]:${port} ${type} ${key}`;
  const knownHosts = path.join(dir, 'known_hosts');
  writeFileSync(knownHosts, `${knownHostsLine}\n`);
  return {
    port,
    dir,
    boardTmp,
    boardCache,
    userKey,
    otherKey,
    knownHosts,
    knownHostsLine,
    dropConnections() {
      for (const pid of childPids(child.pid!)) process.kill(pid, 'SIGKILL');
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Direct children of a process, from /proc. */
/** Direct children of a process, from /proc. */
export function childPids(parent: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent;
      } catch {
        return false;
      }
    })
    .map(Number);
}
