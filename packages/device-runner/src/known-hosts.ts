import { createHmac } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** The host as OpenSSH writes it in known_hosts: `host` on port 22, else `[host]:port`. */
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export type HostKeyVerdict = 'known' | 'unknown' | 'mismatch' | 'revoked';

/** Key type named inside an SSH public key blob (its first string), e.g. "ssh-ed25519". */
export function keyTypeOf(blob: Buffer): string {
  const length = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  return blob.subarray(4, 4 + length).toString('latin1');
}

/**
 * Checks a host key blob against a known_hosts file: plain and hashed (|1|salt|hash) host fields,
 * comma lists, `*`/`?` wildcards, negated patterns, @revoked lines; @cert-authority lines are ignored.
 */
export function checkHostKey(file: string, host: string, port: number, key: Buffer): HostKeyVerdict {
  if (!existsSync(file)) return 'unknown';
  const name = knownHostName(host, port);
  let seen = false;
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    let marker: string | undefined;
    if (fields[0]!.startsWith('@')) marker = fields.shift();
    if (marker === '@cert-authority' || fields.length < 3) continue;
    if (!hostFieldMatches(fields[0]!, name)) continue;
    const matches = Buffer.from(fields[2]!, 'base64').equals(key);
    if (marker === '@revoked') {
      if (matches) return 'revoked';
      continue;
    }
    if (matches) return 'known';
    seen = true;
  }
  return seen ? 'mismatch' : 'unknown';
}

function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  let matched = false;
  for (const pattern of field.split(',')) {
    const negated = pattern.startsWith('!');
    const body = negated ? pattern.slice(1) : pattern;
    const regex = new RegExp(`^${body.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    if (regex.test(name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** Records a newly trusted host key the way `ssh -o StrictHostKeyChecking=accept-new` does. */
export function addKnownHost(file: string, host: string, port: number, key: Buffer): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const existing = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const prefix = existing && !existing.endsWith('\n') ? '\n' : '';
  appendFileSync(file, `${prefix}${knownHostName(host, port)} ${keyTypeOf(key)} ${key.toString('base64')}\n`, { mode: 0o600 });
}
