// Test-only: a private redis-server (Debian's) on a free 127.0.0.1 port with its data in a temp
// dir and an append-only file, so a test can stop and restart it without losing the queue.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestRedis {
  url: string;
  port: number;
  dir: string;
  /** Clean shutdown (SIGTERM: Redis flushes its append-only file first). */
  stop: () => Promise<void>;
  /** Start again on the same port and data dir. */
  start: () => Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => done(port));
    });
  });
}

export function redisServerPath(): string {
  const which = spawnSync('sh', ['-c', 'command -v redis-server || ls /usr/bin/redis-server /usr/sbin/redis-server 2>/dev/null | head -1'], { encoding: 'utf8' });
  const path = which.stdout.trim().split('\n')[0];
  if (!path) {
    throw new Error('redis-server is not installed: "npm test" installs it when run as root (tools/ensure-redis.sh); otherwise run "sudo apt-get install -y redis-server" (Debian) and retry');
  }
  return path;
}

/** Start a private Redis; `password` turns on requirepass, `tls` serves TLS only. Kill it with stop() in afterAll. */
export async function startTestRedis(opts: { password?: string; tls?: { cert: string; key: string } } = {}): Promise<TestRedis> {
  const bin = redisServerPath();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'emrl-redis-'));
  let proc: ChildProcess | null = null;
  const listen = opts.tls
    ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', opts.tls.cert, '--tls-key-file', opts.tls.key, '--tls-auth-clients', 'no']
    : ['--port', String(port)];
  const args = [...listen, '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--daemonize', 'no', ...(opts.password ? ['--requirepass', opts.password] : [])];
  const start = (): Promise<void> =>
    new Promise((done, fail) => {
      const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      proc = p;
      let log = '';
      const timer = setTimeout(() => fail(new Error(`redis-server did not start within 10 s on port ${port}:\n${log}`)), 10_000);
      p.stdout!.on('data', (d: Buffer) => {
        log += d.toString();
        if (log.includes('Ready to accept connections')) {
          clearTimeout(timer);
          done();
        }
      });
      p.stderr!.on('data', (d: Buffer) => (log += d.toString()));
      p.once('exit', (code) => {
        clearTimeout(timer);
        fail(new Error(`redis-server exited (${code}) on port ${port}:\n${log}`));
      });
    });
  const stop = (): Promise<void> =>
    new Promise((done) => {
      const p = proc;
      if (!p || p.exitCode !== null || p.signalCode !== null) return done();
      p.once('exit', () => done());
      p.kill('SIGTERM');
    });
  await start();
  return { url: opts.tls ? `rediss://localhost:${port}` : `redis://127.0.0.1:${port}`, port, dir, stop, start };
}
