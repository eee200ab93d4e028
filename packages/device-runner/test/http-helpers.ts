import { request } from 'node:http';
import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  body: string;
}

/**
 * One request with node's http client, so the test sets any Host header (fetch does not let it).
 * `connectTo` is the address the TCP connection goes to; `headers.host` is what the server is told.
 */
export function httpRequest(options: {
  connectTo?: string;
  port: number;
  path?: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: options.connectTo ?? '127.0.0.1',
        port: options.port,
        path: options.path ?? '/',
        method: options.method ?? 'GET',
        headers: options.headers,
        agent: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Sends `text` as it is on a TCP connection and resolves with everything the server answers before it closes. */
export function rawExchange(port: number, text: string, connectTo = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, connectTo, () => socket.end(text));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', reject);
  });
}
