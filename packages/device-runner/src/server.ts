import { createReadStream, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { cleanText } from './clean-text.js';
import { DeviceError } from './errors.js';
import { hostAllowed, servedHosts } from './served-hosts.js';

/** One thing the server may serve: a file on disk or bytes in memory. Nothing else is reachable. */
export type ServedEntry = { file: string; type: string } | { body: string | Uint8Array; type: string };

/** The verdict on a posted result: the value to resolve with, or why it is refused (sent back with 400). */
export type ResultCheck<T> = { ok: true; value: T } | { ok: false; reason: string };

export interface BenchServerOptions<T = unknown> {
  /** Address to listen on and advertise (the page URL uses it). */
  host: string;
  /** Address put in the URL when it differs from `host` (listening on 0.0.0.0, advertising a LAN address). */
  advertiseHost?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Exact URL paths ("/", "/bench.js", "/ort/ort.wasm.min.mjs") to what they serve. */
  routes: ReadonlyMap<string, ServedEntry>;
  /** Called with each progress line the page posts, without control characters and cut to 300 characters. */
  onProgress?: (line: string) => void;
  /**
   * Checks the parsed JSON of a /result post. A refused body is answered 400 with the reason and the
   * server keeps waiting for a valid one. Default: any JSON is accepted as it is.
   */
  checkResult?: (body: unknown) => ResultCheck<T>;
  /** Called with the reason whenever a posted result is refused (not JSON, too large, wrong shape). */
  onRefusedResult?: (reason: string) => void;
  /** Largest /result body accepted, in bytes. Default 16 MiB. */
  maxResultBytes?: number;
}

export interface BenchServer<T = unknown> {
  /** The page URL, with the one-time result token in its query. */
  readonly url: string;
  readonly token: string;
  /** Resolves with the first body POSTed to /result with the right token that passes the check; later posts are refused. */
  readonly result: Promise<T>;
  close(): Promise<void>;
}

const DEFAULT_MAX_RESULT_BYTES = 16 * 1024 * 1024;
const MAX_PROGRESS_BYTES = 4096;
const MAX_PROGRESS_CHARS = 300;
/** The page posts a few lines per repetition; a flood past this is not printed. */
const MAX_PROGRESS_LINES = 1000;
/** A client gets this long to send its headers, and its whole request (a result body included). */
const HEADERS_TIMEOUT_MS = 20_000;
const REQUEST_TIMEOUT_MS = 60_000;

/**
 * Serves the bench page on HOST:random-port with cross-origin isolation headers (wasm threads need
 * them). Only the exact routes given are served: no listing, no path is ever joined to a folder; only
 * requests whose Host header names this server are answered (DNS rebinding); posts need the token.
 */
export async function startBenchServer<T = unknown>(options: BenchServerOptions<T>): Promise<BenchServer<T>> {
  const token = randomBytes(18).toString('base64url');
  const checkResult = options.checkResult ?? ((body: unknown): ResultCheck<T> => ({ ok: true, value: body as T }));
  const maxResultBytes = options.maxResultBytes ?? DEFAULT_MAX_RESULT_BYTES;
  let settle: ((value: T) => void) | undefined;
  const result = new Promise<T>((resolve) => {
    settle = resolve;
  });
  let progressLines = 0;
  let hosts = new Set<string>();
  const server = createServer({ headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS }, (request, response) => {
    handle(request, response).catch(() => {
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });

  function refuse(response: ServerResponse, status: number, message: string): void {
    // The body may be unread (or endless): close the connection instead of draining it.
    response.writeHead(status, { 'Content-Type': 'text/plain', Connection: 'close' }).end(`${message}\n`);
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    setIsolationHeaders(response);
    if (!hostAllowed(request.headers.host, hosts)) {
      refuse(response, 421, 'This server answers only under the address it announced.');
      return;
    }
    const pathname = new URL(request.url ?? '/', 'http://placeholder').pathname;
    if (request.method === 'POST' && (pathname === '/result' || pathname === '/progress')) {
      if (!settle || !tokenMatches(request.headers['x-specprune-token'], token)) {
        refuse(response, 403, 'This result token is not valid (it is used once).');
        return;
      }
      if (pathname === '/progress') {
        const body = await readBody(request, MAX_PROGRESS_BYTES);
        if (!body) return refuse(response, 413, `A progress line is at most ${MAX_PROGRESS_BYTES} bytes.`);
        progressLines++;
        if (progressLines < MAX_PROGRESS_LINES) options.onProgress?.(cleanText(body.toString('utf8'), MAX_PROGRESS_CHARS));
        else if (progressLines === MAX_PROGRESS_LINES) options.onProgress?.('(too many progress lines; the rest are not shown)');
        response.writeHead(204).end();
        return;
      }
      const body = await readBody(request, maxResultBytes);
      if (!body) return refuseResult(response, 413, `the result is larger than ${maxResultBytes} bytes`);
      if (!settle) return refuse(response, 403, 'This result token is not valid (it is used once).');
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        return refuseResult(response, 400, 'the result is not JSON');
      }
      const checked = checkResult(parsed);
      if (!checked.ok) return refuseResult(response, 400, checked.reason);
      const accept = settle;
      settle = undefined;
      response.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
      accept(checked.value);
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { Allow: 'GET, HEAD', Connection: 'close' }).end();
      return;
    }
    const entry = options.routes.get(pathname);
    if (!entry) {
      response.writeHead(404, { 'Content-Type': 'text/plain' }).end('Not found.\n');
      return;
    }
    if ('file' in entry) {
      response.writeHead(200, { 'Content-Type': entry.type, 'Content-Length': statSync(entry.file).size });
      if (request.method === 'HEAD') response.end();
      else createReadStream(entry.file).pipe(response);
      return;
    }
    const body = typeof entry.body === 'string' ? Buffer.from(entry.body, 'utf8') : entry.body;
    response.writeHead(200, { 'Content-Type': entry.type, 'Content-Length': body.byteLength });
    response.end(request.method === 'HEAD' ? undefined : body);
  }

  function refuseResult(response: ServerResponse, status: number, reason: string): void {
    options.onRefusedResult?.(reason);
    refuse(response, status, `The result was refused: ${reason}.`);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new DeviceError(
          `Cannot serve the bench page on ${options.host}:${options.port ?? 0} (${error.code ?? error.message}); pass --host with an address of this machine.`,
        ),
      ),
    );
    server.listen(options.port ?? 0, options.host, resolve);
  });
  const { port, address } = server.address() as AddressInfo;
  const advertised = options.advertiseHost ?? options.host;
  hosts = servedHosts({ requested: options.host, bound: address, advertised, port });
  const hostInUrl = advertised.includes(':') ? `[${advertised}]` : advertised;
  return {
    url: `http://${hostInUrl}:${port}/?token=${token}`,
    token,
    result,
    close: () =>
      new Promise<void>((resolve) => {
        settle = undefined;
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function setIsolationHeaders(response: ServerResponse): void {
  response.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  response.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
  response.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  response.setHeader('Cache-Control', 'no-store');
  response.setHeader('X-Content-Type-Options', 'nosniff');
}

function tokenMatches(given: string | string[] | undefined, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Reads a request body of at most `limit` bytes; undefined when it is (or says it is) larger. The rest
 * of an oversized body is left unread (the connection is closed after the answer). Rejects when the
 * client goes away first.
 */
function readBody(request: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    if (Number(request.headers['content-length']) > limit) {
      resolve(undefined);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      request.off('data', onData);
      request.pause();
      resolve(undefined);
    };
    request.on('data', onData);
    request.once('end', () => resolve(Buffer.concat(chunks)));
    request.once('error', reject);
    request.once('close', () => reject(new Error('the client closed the connection')));
  });
}
