import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'bullmq';
import { ConfigError } from '../../config/config-error';

/** Where a queue lives, parsed from `--queue`; `display` is safe to print (no password). */
export interface QueueTarget {
  connection: ConnectionOptions;
  /** Key prefix in Redis (`?prefix=` on the URL, default "emrl"); sweeps of one prefix share workers. */
  prefix: string;
  display: string;
}

/** Env vars read for credentials, so they never have to appear on a command line or in a file. */
export const REDIS_ENV = { password: 'EMRL_REDIS_PASSWORD', username: 'EMRL_REDIS_USERNAME', ca: 'EMRL_REDIS_CA' } as const;

/** TLS options of a rediss:// URL: the host name to verify, and a private CA from EMRL_REDIS_CA. */
function tlsOptions(host: string, env: NodeJS.ProcessEnv): { servername: string; ca?: Buffer } {
  const caFile = env[REDIS_ENV.ca];
  if (!caFile) return { servername: host };
  try {
    return { servername: host, ca: readFileSync(caFile) };
  } catch (e) {
    throw new ConfigError(REDIS_ENV.ca, [`cannot read the CA certificate "${caFile}" (${e instanceof Error ? e.message : String(e)}); give a PEM file or unset ${REDIS_ENV.ca} to use the system CAs`]);
  }
}

/**
 * `redis://[user[:password]@]host[:port][/db][?prefix=name]` or `rediss://` (TLS). A password in the
 * URL or in EMRL_REDIS_PASSWORD is passed to the connection only; `display` never contains it.
 * EMRL_REDIS_CA names a PEM file to trust for rediss:// (a private CA or self-signed server).
 */
export function parseQueueUrl(url: string, env: NodeJS.ProcessEnv = process.env): QueueTarget {
  const bad = (why: string): ConfigError =>
    new ConfigError('--queue', [`${why}; expected redis://host:port or rediss://host:port (TLS), e.g. --queue redis://127.0.0.1:6379 (password: ${REDIS_ENV.password})`]);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad(`"${redactUrl(url)}" is not a URL`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw bad(`unsupported scheme "${u.protocol}"`);
  if (!u.hostname) throw bad('missing host');
  const port = u.port ? Number(u.port) : 6379;
  const dbText = u.pathname.replace(/^\//, '');
  const db = dbText ? Number(dbText) : 0;
  if (!Number.isInteger(db) || db < 0) throw bad(`database "${dbText}" is not a non-negative integer`);
  const prefix = u.searchParams.get('prefix') ?? 'emrl';
  if (!/^[A-Za-z0-9._-]+$/.test(prefix)) throw bad(`prefix "${prefix}" must be letters, digits, ".", "_" or "-"`);
  const password = u.password ? decodeURIComponent(u.password) : env[REDIS_ENV.password];
  const username = u.username ? decodeURIComponent(u.username) : env[REDIS_ENV.username];
  const connection: ConnectionOptions = {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port,
    db,
    ...(password ? { password } : {}),
    ...(username ? { username } : {}),
    ...(u.protocol === 'rediss:' ? { tls: tlsOptions(u.hostname, env) } : {}),
    // BullMQ workers need commands to wait through a Redis restart rather than fail.
    maxRetriesPerRequest: null,
  };
  const auth = password || username ? `${username ?? ''}:***@` : '';
  return { connection, prefix, display: `${u.protocol}//${auth}${u.host}${dbText ? `/${db}` : ''}${prefix !== 'emrl' ? `?prefix=${prefix}` : ''}` };
}

/** The URL with any password replaced by ***, for messages about a URL that may not even parse. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:@/]*:)[^@]*@/i, '$1***@');
}
