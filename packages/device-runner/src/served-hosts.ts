import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

/**
 * The `Host` header values the bench server answers. A page on another site can point its own host
 * name at this machine (DNS rebinding) and then read the model as "same origin"; its requests still
 * carry that site's name in `Host`, so answering only the names and addresses the server is actually
 * served on closes the hole. Values are lower-case `host:port` (IPv6 in brackets).
 */
export function servedHosts(options: {
  /** What the user asked to listen on (`--host`): an address or a name. */
  requested: string;
  /** The address the socket is bound to (server.address()). */
  bound: string;
  /** The address put in the URL. */
  advertised: string;
  port: number;
}): Set<string> {
  const names = new Set<string>([options.requested, options.bound, options.advertised]);
  if (isLoopback(options.bound)) {
    for (const name of ['localhost', '127.0.0.1', '::1']) names.add(name);
  }
  if (options.bound === '0.0.0.0' || options.bound === '::') {
    // Every interface answers: each of this machine's addresses is a name the page is served on.
    names.add('localhost');
    for (const address of Object.values(networkInterfaces()).flat()) if (address) names.add(address.address);
  }
  const hosts = new Set<string>();
  for (const name of names) {
    const host = formatHost(name);
    // "Every interface" is not an address a page is opened at, unless nothing better could be announced.
    if ((host === '0.0.0.0' || host === '[::]') && name !== options.advertised) continue;
    hosts.add(`${host}:${options.port}`);
    // Browsers leave the default port out of Host.
    if (options.port === 80) hosts.add(host);
  }
  return hosts;
}

/** Whether a request's Host header names one of `hosts`; a missing or repeated header never does. */
export function hostAllowed(header: string | undefined, hosts: ReadonlySet<string>): boolean {
  return typeof header === 'string' && hosts.has(header.toLowerCase());
}

function formatHost(name: string): string {
  const lower = name.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  // A zone id (fe80::1%eth0) never appears in a Host header browsers send.
  return isIP(lower.replace(/%.*$/, '')) === 6 ? `[${lower.replace(/%.*$/, '')}]` : lower;
}

function isLoopback(address: string): boolean {
  const plain = address.replace(/^::ffff:/i, '');
  return plain === '::1' || plain === 'localhost' || /^127\./.test(plain);
}
