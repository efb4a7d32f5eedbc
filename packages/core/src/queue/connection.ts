/**
 * The Redis connection of a queue run (`--queue redis://…`): the URL checked and shown without its
 * password, and ioredis clients that fail fast when Redis cannot be reached at start, then
 * reconnect for as long as it takes once a run is under way.
 */
import { Redis } from 'ioredis';
import { QueueUnreachableError, UsageError } from '../errors.ts';

/** A checked `--queue` URL. */
export interface QueueUrl {
  /** As given (with its password, if any). */
  readonly url: string;
  /** For messages: the password replaced by `***`. */
  readonly shown: string;
}

/** The environment variable a password can come from instead of the URL (which other users see in `ps`). */
export const PASSWORD_VARIABLE = 'UNLEARN_BENCH_REDIS_PASSWORD';

const URL_FORM = 'redis://HOST:PORT, redis://:PASSWORD@HOST:PORT (or the password in UNLEARN_BENCH_REDIS_PASSWORD), rediss://… for TLS, optionally /DB at the end';

/** Checks a `--queue` value: a redis:// or rediss:// URL with a host and at most a database number as path. */
export function parseQueueUrl(text: string): QueueUrl {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--queue must be a Redis URL (${URL_FORM}), got '${text}'.`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new UsageError(`--queue must be a redis:// or rediss:// URL (${URL_FORM}), got '${redact(url)}'.`);
  if (url.hostname === '') throw new UsageError(`--queue '${redact(url)}' names no host (${URL_FORM}).`);
  if (!/^\/?(\d+)?$/.test(url.pathname)) throw new UsageError(`--queue '${redact(url)}': the path can only be a database number, e.g. redis://HOST:6379/0.`);
  return { url: text, shown: redact(url) };
}

function redact(url: URL): string {
  if (url.password === '') return url.href;
  const copy = new URL(url.href);
  copy.password = '***';
  return copy.href;
}

/** What a client reports when it loses or regains Redis during a run (`lost` once per outage). */
export interface ConnectionWatch {
  lost(reason: string): void;
  back(): void;
}

/**
 * Opens a client of `queue` and checks that Redis answers: a QueueUnreachableError (exit 2) names
 * the URL and the reason if it cannot connect, or refuses the password, within 10 s. After that the
 * client reconnects on its own (every 0.25 to 5 s) and commands wait for the connection
 * (BullMQ requires `maxRetriesPerRequest: null`), so a Redis restart pauses a run instead of
 * failing it; `watch` hears about it.
 */
export async function connectRedis(queue: QueueUrl, name: string, watch?: ConnectionWatch): Promise<Redis> {
  const password = process.env[PASSWORD_VARIABLE];
  const client = new Redis(queue.url, {
    lazyConnect: true,
    maxRetriesPerRequest: null,
    connectTimeout: 10_000,
    connectionName: name,
    retryStrategy: (times) => Math.min(250 * 2 ** times, 5000),
    ...(password && new URL(queue.url).password === '' ? { password } : {}),
  });
  let lastError = '';
  let up = false;
  client.on('error', (error: Error) => {
    lastError = error.message;
  });
  // 'reconnecting' follows a connection that dropped (never one closed on purpose).
  let down = false;
  client.on('reconnecting', () => {
    if (!up) return;
    up = false;
    down = true;
    watch?.lost(lastError || 'the connection closed');
  });
  client.on('ready', () => {
    up = true;
    lastError = '';
    if (down) watch?.back();
    down = false;
  });
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    client.disconnect();
    const reason = lastError || (error as Error).message;
    throw new QueueUnreachableError(
      `Cannot reach Redis at ${queue.shown}: ${reason}. Start redis-server there (Debian: apt-get install redis-server), or check --queue (${URL_FORM}).`,
      { cause: error },
    );
  }
  return client;
}
