import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { childPids, freePort } from '../../cli/test/bench-sshd.js';

/**
 * An emulated Raspberry-Pi-class board: a Debian bookworm arm64 userland (node 18, OpenSSH) built once with
 * debootstrap, run through qemu-user via binfmt_misc, its sshd started with chroot on a free loopback port.
 * Needs Linux and root. The root is cached in SPECPRUNE_BOARD_CACHE (default /var/cache/specprune-board):
 * `root/` is complete; a build goes to `root.partial/` and is renamed only when debootstrap succeeded.
 */
export const BOARD_CACHE = process.env.SPECPRUNE_BOARD_CACHE ?? '/var/cache/specprune-board';
export const BOARD_ROOT = path.join(BOARD_CACHE, 'root');
const PARTIAL_ROOT = `${BOARD_ROOT}.partial`;
const BINFMT = '/proc/sys/fs/binfmt_misc';
const QEMU_CONF = '/usr/lib/binfmt.d/qemu-aarch64.conf';

/** The fake node the "too old" port puts first on PATH. */
export const OLD_NODE_VERSION = 'v16.20.2';

function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Why the board cannot run on this machine, or undefined when it can. Registers qemu-aarch64 with
 * binfmt_misc (mounting binfmt_misc first) when it is not registered yet.
 */
export function boardUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return `the emulated board needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'the emulated board needs root (chroot, mount, binfmt_misc); run pnpm test:board as root';
  if (!hasCommand('chroot')) return 'chroot is missing';
  if (!existsSync(path.join(BOARD_ROOT, 'usr/sbin/sshd')) && !hasCommand('debootstrap')) {
    return `no board in ${BOARD_ROOT} and no debootstrap to build one (apt-get install debootstrap qemu-user-static)`;
  }
  try {
    if (!existsSync(path.join(BINFMT, 'register'))) execFileSync('mount', ['binfmt_misc', '-t', 'binfmt_misc', BINFMT], { stdio: 'pipe' });
    if (!existsSync(path.join(BINFMT, 'qemu-aarch64'))) {
      if (!existsSync(QEMU_CONF)) return `${QEMU_CONF} is missing (apt-get install qemu-user-static)`;
      const line = readFileSync(QEMU_CONF, 'utf8').split('\n').find((l) => l.startsWith(':qemu-aarch64:'));
      if (!line) return `${QEMU_CONF} has no qemu-aarch64 line`;
      writeFileSync(path.join(BINFMT, 'register'), line);
    }
    if (!readFileSync(path.join(BINFMT, 'qemu-aarch64'), 'utf8').startsWith('enabled')) return 'qemu-aarch64 is registered with binfmt_misc but disabled';
  } catch (error) {
    return `cannot register qemu-aarch64 with binfmt_misc (${(error as Error).message.split('\n')[0]})`;
  }
  return undefined;
}

function debianMirror(): string {
  try {
    const sources = readFileSync('/etc/apt/sources.list.d/debian.sources', 'utf8');
    const uri = /^URIs:\s*(\S+\/debian)\s*$/m.exec(sources)?.[1];
    if (uri) return uri;
  } catch {
    // no deb822 sources
  }
  return 'http://deb.debian.org/debian';
}

/** Builds the board's root once (a few minutes under emulation); later calls return at once. */
export async function ensureBoardRoot(log: (line: string) => void): Promise<{ root: string; builtMs?: number }> {
  if (existsSync(path.join(BOARD_ROOT, 'usr/sbin/sshd')) && existsSync(path.join(BOARD_ROOT, 'usr/bin/node'))) {
    log(`board: using the cached arm64 root ${BOARD_ROOT} (delete it to rebuild)`);
    return { root: BOARD_ROOT };
  }
  const started = Date.now();
  mkdirSync(BOARD_CACHE, { recursive: true });
  rmSync(PARTIAL_ROOT, { recursive: true, force: true });
  const logFile = path.join(BOARD_CACHE, 'debootstrap.log');
  const mirror = debianMirror();
  log(`board: building an arm64 Debian bookworm root in ${PARTIAL_ROOT} from ${mirror} (a few minutes; log: ${logFile})`);
  const out = openSync(logFile, 'w');
  const child = spawn(
    'debootstrap',
    ['--arch=arm64', '--variant=minbase', '--include=nodejs,openssh-server', 'bookworm', PARTIAL_ROOT, mirror],
    { stdio: ['ignore', out, out] },
  );
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`debootstrap exited with ${code}; see ${logFile}`);
  renameSync(PARTIAL_ROOT, BOARD_ROOT);
  const builtMs = Date.now() - started;
  log(`board: built ${BOARD_ROOT} in ${(builtMs / 1000).toFixed(0)} s`);
  return { root: BOARD_ROOT, builtMs };
}

/** A running board: sshd on `port` (node 18 on PATH), `noNodePort` (PATH without node), `oldNodePort` (node 16). */
export interface EmulatedBoard {
  root: string;
  port: number;
  noNodePort: number;
  oldNodePort: number;
  userKey: string;
  knownHosts: string;
  /** The board's /tmp, as seen from this machine. */
  boardTmp: string;
  /** root's runtime cache on the board (~/.cache/specprune/runtime), as seen on the board and from here. */
  cacheOnBoard: string;
  cacheHere: string;
  dropConnections(): void;
  stop(): Promise<void>;
}


async function waitForPort(port: number, child: ChildProcess, output: () => string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`the board's sshd exited: ${output()}`);
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
  throw new Error(`the board's sshd did not listen on ${port}: ${output()}`);
}

function isMounted(mountPoint: string): boolean {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[1] === mountPoint);
}

/** Starts the board's sshd under chroot with keys generated for this run; stop() undoes every change. */
export async function startEmulatedBoard(root: string): Promise<EmulatedBoard> {
  const proc = path.join(root, 'proc');
  const mountedProc = !isMounted(proc);
  if (mountedProc) execFileSync('mount', ['-t', 'proc', 'proc', proc]);
  mkdirSync(path.join(root, 'run/sshd'), { recursive: true });
  const here = mkdtempSync(path.join(root, 'run', 'specprune-test-'));
  const inside = `/${path.relative(root, here)}`;
  for (const key of ['host_key', 'user_key']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(here, key)]);
  writeFileSync(path.join(here, 'authorized_keys'), readFileSync(path.join(here, 'user_key.pub')));
  // PATH without node: the few tools the runner's probe and cleanup use, and nothing else.
  mkdirSync(path.join(here, 'no-node'));
  for (const tool of ['sh', 'uname', 'mktemp', 'rm', 'sleep', 'sed', 'wc', 'tr', 'mkdir', 'cat', 'printf', 'mv']) {
    if (existsSync(path.join(root, 'usr/bin', tool))) symlinkSync(`/usr/bin/${tool}`, path.join(here, 'no-node', tool));
  }
  mkdirSync(path.join(here, 'old-node'));
  writeFileSync(path.join(here, 'old-node', 'node'), `#!/bin/sh\necho ${OLD_NODE_VERSION}\n`);
  chmodSync(path.join(here, 'old-node', 'node'), 0o755);
  const [port, noNodePort, oldNodePort] = [await freePort(), await freePort(), await freePort()];
  writeFileSync(
    path.join(here, 'sshd_config'),
    [
      `Port ${port}`,
      `Port ${noNodePort}`,
      `Port ${oldNodePort}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${inside}/host_key`,
      `AuthorizedKeysFile ${inside}/authorized_keys`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      `PidFile ${inside}/sshd.pid`,
      'Subsystem sftp internal-sftp',
      `Match LocalPort ${noNodePort}`,
      `  SetEnv PATH=${inside}/no-node`,
      `Match LocalPort ${oldNodePort}`,
      `  SetEnv PATH=${inside}/old-node:/usr/bin:/bin`,
      '',
    ].join('\n'),
  );
  let output = '';
  const child = spawn('chroot', [root, '/usr/sbin/sshd', '-D', '-e', '-f', `${inside}/sshd_config`], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const cleanUp = () => {
    rmSync(here, { recursive: true, force: true });
    if (mountedProc && isMounted(proc)) {
      try {
        execFileSync('umount', [proc], { stdio: 'pipe' });
      } catch {
        execFileSync('umount', ['--lazy', proc]); // a straggling emulated process still holds it
      }
    }
  };
  try {
    await waitForPort(port, child, () => output);
  } catch (error) {
    child.kill('SIGKILL');
    cleanUp();
    throw error;
  }
  const [type, key] = readFileSync(path.join(here, 'host_key.pub'), 'utf8').split(' ');
  const knownHosts = path.join(here, 'known_hosts');
  writeFileSync(knownHosts, [port, noNodePort, oldNodePort].map((p) => `[127.0.0.1]:${p} ${type} ${key}\n`).join(''));
  return {
    root,
    port,
    noNodePort,
    oldNodePort,
    userKey: path.join(here, 'user_key'),
    knownHosts,
    boardTmp: path.join(root, 'tmp'),
    cacheOnBoard: '/root/.cache/specprune/runtime',
    cacheHere: path.join(root, 'root/.cache/specprune/runtime'),
    dropConnections() {
      for (const pid of childPids(child.pid!)) process.kill(pid, 'SIGKILL');
    },
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        await exited;
      }
      // Sessions may outlive the listener for a moment; wait for them before unmounting proc.
      for (let i = 0; i < 50 && sessionPids(root).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
      cleanUp();
    },
  };
}

/** Processes whose root is the board's (sessions, payloads). */
function sessionPids(root: string): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        return readlinkSync(`/proc/${name}/root`) === root;
      } catch {
        return false;
      }
    })
    .map(Number);
}

