import type { Client, ClientChannel, ConnectConfig, SFTPWrapper } from 'ssh2';
import { DeviceError, describeError } from './errors.js';
import { addKnownHost, checkHostKey, keyTypeOf, type HostKeyVerdict } from './known-hosts.js';

export interface SshConnectOptions {
  host: string;
  port: number;
  username: string;
  /** How the board is named in messages: ssh://user@host:port. */
  label: string;
  privateKey?: Buffer;
  /** Shown in the authentication failure sentence. */
  keyLabel: string;
  agent?: string;
  knownHostsFile: string;
  acceptNewHostKey: boolean;
  connectTimeoutMs: number;
}

const UPLOAD_CONCURRENCY = 8;

/** A local file, or bytes, to put at an absolute remote path. */
export type UploadFile = { local: string; remote: string } | { data: string | Buffer; remote: string };

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  onStderrLine?: (line: string) => void;
  /** What the timeout sentence says was running. */
  what: string;
  /** How the timeout sentence names the limit; default "N s". */
  limitLabel?: string;
}

/** One authenticated SSH connection to a board, with the few operations the ssh target needs. */
export class SshConnection {
  private lost = false;
  private sftpSession: SFTPWrapper | undefined;

  private constructor(
    private readonly client: Client,
    private readonly label: string,
  ) {
    client.on('close', () => {
      this.lost = true;
    });
    client.on('error', () => {
      this.lost = true;
    });
  }

  get isOpen(): boolean {
    return !this.lost;
  }

  /**
   * Connects and authenticates; the host key must be in known_hosts (or is recorded there with
   * acceptNewHostKey). Every failure is a DeviceError sentence naming the board and the fix.
   */
  static async connect(options: SshConnectOptions): Promise<SshConnection> {
    const ssh2 = (await import('ssh2')) as unknown as { Client?: typeof Client; default?: { Client: typeof Client } };
    const ClientClass = ssh2.Client ?? ssh2.default!.Client;
    const client = new ClientClass();
    let verdict: HostKeyVerdict | undefined;
    let seenKeyType = '';
    const config: ConnectConfig = {
      host: options.host,
      port: options.port,
      username: options.username,
      readyTimeout: options.connectTimeoutMs,
      keepaliveInterval: 5000,
      keepaliveCountMax: 3,
      hostVerifier: (key: Buffer) => {
        seenKeyType = keyTypeOf(key);
        verdict = checkHostKey(options.knownHostsFile, options.host, options.port, key);
        if (verdict === 'unknown' && options.acceptNewHostKey) {
          addKnownHost(options.knownHostsFile, options.host, options.port, key);
          verdict = 'known';
        }
        return verdict === 'known';
      },
      ...(options.privateKey ? { privateKey: options.privateKey } : {}),
      ...(options.agent ? { agent: options.agent } : {}),
    };
    return new Promise<SshConnection>((resolve, reject) => {
      const fail = (error: Error & { level?: string; code?: string }) => {
        client.removeAllListeners('ready');
        client.end();
        reject(explainConnectError(error, options, verdict, seenKeyType));
      };
      client.once('error', fail);
      client.once('ready', () => {
        client.removeListener('error', fail);
        resolve(new SshConnection(client, options.label));
      });
      try {
        client.connect(config);
      } catch (error) {
        fail(error as Error);
      }
    });
  }

  /**
   * Runs a shell command; stdin stays open until it ends (the node payload stops when stdin closes).
   * Rejects with a DeviceError on timeout, abort, or a lost connection.
   */
  exec(command: string, options: ExecOptions): Promise<ExecResult> {
    return new Promise<ExecResult>((resolve, reject) => {
      if (this.lost) {
        reject(new DeviceError(`The connection to ${this.label} was lost; check the board's network and power, then run again.`));
        return;
      }
      let channel: ClientChannel | undefined;
      let settled = false;
      const finish = (error: Error | undefined, result?: ExecResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        this.client.removeListener('close', onClose);
        if (error) {
          channel?.close();
          reject(error);
        } else resolve(result!);
      };
      const timer = setTimeout(
        () => finish(new DeviceError(`${options.what} on ${this.label} did not finish within ${options.limitLabel ?? `${Math.round(options.timeoutMs / 1000)} s`}; raise --timeout or lower --runs.`)),
        options.timeoutMs,
      );
      const onAbort = () => finish(new DeviceError('The benchmark was interrupted.'));
      const onClose = () =>
        finish(new DeviceError(`The connection to ${this.label} was lost during ${options.what.toLowerCase()}; check the board's network and power, then run again.`));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.client.once('close', onClose);
      this.client.exec(command, (error, stream) => {
        if (error) {
          finish(new DeviceError(`${this.label} refused to run a command (${describeError(error)}).`));
          return;
        }
        channel = stream;
        if (settled) {
          stream.close();
          return;
        }
        let stdout = '';
        let stderr = '';
        let pending = '';
        let code: number | null = null;
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => (stdout += chunk));
        stream.stderr.setEncoding('utf8');
        stream.stderr.on('data', (chunk: string) => {
          stderr += chunk;
          pending += chunk;
          const lines = pending.split('\n');
          pending = lines.pop()!;
          for (const line of lines) if (line) options.onStderrLine?.(line);
        });
        stream.on('exit', (exitCode: number | null) => {
          code = exitCode;
        });
        stream.on('close', () => finish(undefined, { code, stdout, stderr }));
      });
    });
  }

  private async sftp(): Promise<SFTPWrapper> {
    if (!this.sftpSession) {
      this.sftpSession = await new Promise<SFTPWrapper>((resolve, reject) =>
        this.client.sftp((error, sftp) =>
          error ? reject(new DeviceError(`${this.label} does not offer SFTP (${describeError(error)}); enable the sftp subsystem in its sshd_config.`)) : resolve(sftp),
        ),
      );
    }
    return this.sftpSession;
  }

  /**
   * Copies local files (or bytes) to absolute remote paths over SFTP (no shell involved), creating folders
   * first. Files go up several at a time: each SFTP file costs a few round trips, which add up for the
   * thirty small files of the runtime.
   */
  async upload(files: readonly UploadFile[], signal?: AbortSignal): Promise<void> {
    const sftp = await this.sftp();
    const made = new Set<string>();
    for (const { remote } of files) await this.mkdirs(sftp, remote.slice(0, remote.lastIndexOf('/')), made);
    const queue = [...files];
    const worker = async () => {
      for (let file = queue.shift(); file; file = queue.shift()) {
        if (signal?.aborted) throw new DeviceError('The benchmark was interrupted.');
        if (this.lost) throw new DeviceError(`The connection to ${this.label} was lost during the upload; check the board's network and power, then run again.`);
        const { remote } = file;
        const done = (resolve: () => void, reject: (error: Error) => void) => (error: Error | null | undefined) =>
          error ? reject(new DeviceError(`Uploading ${remote} to ${this.label} failed (${describeError(error)}); check free space on the board.`)) : resolve();
        await new Promise<void>((resolve, reject) => {
          if ('local' in file) sftp.fastPut(file.local, remote, done(resolve, reject));
          else sftp.writeFile(remote, file.data, done(resolve, reject));
        });
      }
    };
    await Promise.all(Array.from({ length: UPLOAD_CONCURRENCY }, worker));
  }

  private async mkdirs(sftp: SFTPWrapper, folder: string, made: Set<string>): Promise<void> {
    if (made.has(folder) || folder === '') return;
    const parent = folder.slice(0, folder.lastIndexOf('/'));
    if (parent && !made.has(parent)) await this.mkdirs(sftp, parent, made);
    await new Promise<void>((resolve) => sftp.mkdir(folder, () => resolve())); // exists already: fine
    made.add(folder);
  }

  close(): void {
    this.lost = true;
    this.sftpSession?.end();
    this.client.end();
  }
}

function explainConnectError(
  error: Error & { level?: string; code?: string },
  options: SshConnectOptions,
  verdict: HostKeyVerdict | undefined,
  keyType: string,
): DeviceError {
  const board = options.label;
  if (verdict === 'unknown') {
    return new DeviceError(
      `The host key of ${board} (${keyType}) is not in ${options.knownHostsFile}; check it and add it (ssh-keyscan -p ${options.port} ${options.host} >> ${options.knownHostsFile}) or pass --accept-new-host-key.`,
    );
  }
  if (verdict === 'mismatch') {
    return new DeviceError(
      `The host key of ${board} (${keyType}) does not match the one recorded in ${options.knownHostsFile}; someone may be intercepting the connection, or the board was reinstalled (then remove its old line with ssh-keygen -R).`,
    );
  }
  if (verdict === 'revoked') return new DeviceError(`The host key of ${board} is marked @revoked in ${options.knownHostsFile}; refusing to connect.`);
  if (error.level === 'client-authentication') {
    return new DeviceError(
      `${board} refused ${options.keyLabel} (authentication failed); add its public key to ~/.ssh/authorized_keys of ${options.username} on the board, or pass --ssh-key with the right key.`,
    );
  }
  if (error.level === 'client-timeout' || /timed out/i.test(error.message)) {
    return new DeviceError(`Cannot reach ${board}: no SSH answer within ${Math.round(options.connectTimeoutMs / 1000)} s; check the address and that sshd runs on the board.`);
  }
  if (error.code && ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'ETIMEDOUT'].includes(error.code)) {
    const what = { ECONNREFUSED: 'connection refused', ENOTFOUND: 'unknown host name', EAI_AGAIN: 'host name lookup failed' }[error.code as 'ECONNREFUSED'] ?? error.code;
    return new DeviceError(`Cannot reach ${board}: ${what}; check the address and that sshd runs on the board.`);
  }
  if (/private key|passphrase|Unsupported key format/i.test(error.message)) {
    return new DeviceError(`${options.keyLabel} cannot be used (${describeError(error)}); pass --ssh-key with an unencrypted private key or load it into ssh-agent.`);
  }
  return new DeviceError(`Cannot connect to ${board} (${describeError(error)}).`);
}
