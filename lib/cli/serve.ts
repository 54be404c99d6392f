import type { AddressInfo } from 'node:net';
import type { Hono } from 'hono';
import { UsageError } from '../errors/UsageError.js';
import { intArg } from './shared.js';

/** Names under which a loopback-bound server answers (its Host header), against DNS rebinding. */
export const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '::1'];

export const isLoopback = (host: string): boolean => LOOPBACK_HOSTS.includes(host) || host.startsWith('127.');

export const portArg = intArg(0, 'a port number from 0 to 65535');

/**
 * Serves `app` on host:port until SIGINT or SIGTERM, then closes it and calls `close`. Resolves
 * with the URL once listening; a port in use or a bad address is a UsageError.
 */
export async function listen(app: Hono, host: string, port: number, close: () => void): Promise<string> {
  if (port > 65535) throw new UsageError(`--port ${port}: expected a port number from 0 to 65535`);
  // Loaded here, not at the top: every rq command (the worker too) loads this module, and the web
  // server's modules added to each worker's start-up.
  const { serve } = await import('@hono/node-server');
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: host, port }, (info: AddressInfo) => {
      const shown = info.family === 'IPv6' ? `[${info.address}]` : info.address;
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        server.close(() => close());
        // Open keep-alive connections (a browser tab) would hold close() forever.
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      resolve(`http://${shown}:${info.port}`);
    });
    server.once('error', (err: NodeJS.ErrnoException) => {
      close();
      reject(new UsageError(`Cannot listen on ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'the port is in use (choose another with --port)' : err.message}`, { cause: err }));
    });
  });
}
