import type { Logger, Measurement, PayloadConfig } from './types.js';

/** What every target receives about the run; each target reads the options it honours. */
export interface TargetContext {
  /** Model file on this machine. */
  modelPath: string;
  /** How to name the model in messages (the path as the user typed it). */
  modelLabel: string;
  /** Whole-run limit in ms: connect, upload, session creation and every run. */
  timeoutMs: number;
  /** Aborted on Ctrl-C: the target stops and cleans up (remote folder, browser, child process). */
  signal?: AbortSignal;
  log: Logger;
  /** The caller's environment (HOME, SSH_AUTH_SOCK); never read from process.env directly. */
  env: Record<string, string | undefined>;
  /** browser: Chromium-family executable (default /usr/bin/chromium); webdriver: goog:chromeOptions.binary. */
  browserPath?: string;
  /** browser, webdriver, manual: address the page is served on and advertised with. Default 127.0.0.1. */
  host?: string;
  /** webdriver: extra W3C capabilities merged into alwaysMatch. */
  capabilities?: Record<string, unknown>;
  /** ssh: private key file; without it, the agent at SSH_AUTH_SOCK and then ~/.ssh/id_* are tried. */
  sshKey?: string;
  /** ssh: known_hosts file (default ~/.ssh/known_hosts). */
  knownHosts?: string;
  /** ssh: trust and record a host key never seen before (like StrictHostKeyChecking=accept-new). */
  acceptNewHostKey?: boolean;
  /** ssh: which runtime runs the payload on the board. */
  remoteRuntime?: 'auto' | 'node' | 'python';
}

/**
 * One place a model can be benchmarked. The runner calls init, createSession, run, and always dispose
 * (also after a failure or an abort), so a target cleans up there.
 */
export interface Target {
  /** Launch or connect (browser, ssh connection, bench page server); fails with a DeviceError. */
  init(): Promise<void>;
  /** Put the model, the payload and its settings where they run (upload, serve, write). */
  createSession(config: PayloadConfig): Promise<void>;
  /** Run the protocol there once (it runs every repetition) and return what it measured. */
  run(): Promise<Measurement>;
  /** Release everything: remote folders, browsers, servers, child processes. Never throws. */
  dispose(): Promise<void>;
}

/** A parsed `--target` value: `node`, `browser`, `manual`, `webdriver+http://h:p`, `ssh://u@h:p`. */
export interface TargetSpec {
  /** The registry key: text before "://" or the whole value. */
  scheme: string;
  /** The value as given. */
  raw: string;
  /** For URL-like targets. */
  url?: URL;
}

export type TargetFactory = (spec: TargetSpec, context: TargetContext) => Target | Promise<Target>;
