import type { Server, ServerResponse } from 'node:http';

/**
 * Stop an HTTP server: stop accepting, close idle keep-alive connections now,
 * let in-flight requests finish until `deadline` (epoch ms), then cut what is left.
 */
export function closeHttpServer(server: Server, deadline: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), Math.max(0, deadline - Date.now()));
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/** A complete plain response (no body for 204). */
export function sendText(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.statusCode = status;
  if (status !== 204) {
    res.setHeader('Content-Type', contentType);
    res.setHeader('Content-Length', Buffer.byteLength(body));
  }
  res.end(status === 204 ? undefined : body);
}
