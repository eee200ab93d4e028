import { createReadStream, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { DeviceError } from './errors.js';

/** One thing the server may serve: a file on disk or bytes in memory. Nothing else is reachable. */
export type ServedEntry = { file: string; type: string } | { body: string | Uint8Array; type: string };

export interface BenchServerOptions {
  /** Address to listen on and advertise (the page URL uses it). */
  host: string;
  /** Address put in the URL when it differs from `host` (listening on 0.0.0.0, advertising a LAN address). */
  advertiseHost?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Exact URL paths ("/", "/bench.js", "/ort/ort.wasm.min.mjs") to what they serve. */
  routes: ReadonlyMap<string, ServedEntry>;
  /** Called with each progress line the page posts. */
  onProgress?: (line: string) => void;
}

export interface BenchServer {
  /** The page URL, with the one-time result token in its query. */
  readonly url: string;
  readonly token: string;
  /** Resolves with the first body POSTed to /result with the right token; later posts are refused. */
  readonly result: Promise<unknown>;
  close(): Promise<void>;
}

const MAX_POST_BYTES = 16 * 1024 * 1024;

/**
 * Serves the bench page on HOST:random-port with cross-origin isolation headers (wasm threads need
 * them). Only the exact routes given are served: no listing, no path is ever joined to a folder.
 */
export async function startBenchServer(options: BenchServerOptions): Promise<BenchServer> {
  const token = randomBytes(18).toString('base64url');
  let settle: ((value: unknown) => void) | undefined;
  const result = new Promise<unknown>((resolve) => {
    settle = resolve;
  });
  const server = createServer((request, response) => {
    handle(request, response).catch(() => {
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    setIsolationHeaders(response);
    const pathname = new URL(request.url ?? '/', 'http://placeholder').pathname;
    if (request.method === 'POST' && (pathname === '/result' || pathname === '/progress')) {
      const body = await readBody(request);
      if (!settle || !tokenMatches(request.headers['x-specprune-token'], token)) {
        response.writeHead(403, { 'Content-Type': 'text/plain' }).end('This result token is not valid (it is used once).\n');
        return;
      }
      if (pathname === '/progress') {
        options.onProgress?.(body.toString('utf8').slice(0, 500));
        response.writeHead(204).end();
        return;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        response.writeHead(400, { 'Content-Type': 'text/plain' }).end('The result is not JSON.\n');
        return;
      }
      const accept = settle;
      settle = undefined;
      response.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
      accept(parsed);
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { Allow: 'GET, HEAD' }).end();
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
  const { port } = server.address() as AddressInfo;
  const advertised = options.advertiseHost ?? options.host;
  const hostInUrl = advertised.includes(':') ? `[${advertised}]` : advertised;
  return {
    url: `http://${hostInUrl}:${port}/?token=${token}`,
    token,
    result,
    close: () =>
      new Promise<void>((resolve) => {
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

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_POST_BYTES) throw new Error('body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
