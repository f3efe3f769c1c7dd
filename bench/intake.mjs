/** The benches' local Datadog intake (127.0.0.1, port 0). */
import { createServer } from 'node:http';
import { inflateSync } from 'node:zlib';

/**
 * A minimal local intake: sums veneur.worker.metrics_processed_total (rate × interval)
 * and veneur.packet.error_total, keeps each flush's veneur.mem.heap_used_bytes;
 * busyMs is the time spent handling bodies.
 */
export async function startIntake() {
  const state = { processed: 0, errors: 0, bodies: 0, busyMs: 0, heapUsed: [] };
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const t0 = performance.now();
      try {
        let body = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'deflate') body = inflateSync(body);
        if (req.url.startsWith('/api/v1/series')) state.bodies++;
        // only bodies with self-metrics matter (a 1M-series flush is ~90 bodies)
        if (req.url.startsWith('/api/v1/series') && body.includes('"metric":"veneur.')) {
          for (const s of JSON.parse(body).series) {
            const v = s.points[0][1] * (s.interval ?? 1);
            if (s.metric === 'veneur.worker.metrics_processed_total') state.processed += v;
            if (s.metric === 'veneur.packet.error_total') state.errors += v;
            if (s.metric === 'veneur.mem.heap_used_bytes') state.heapUsed.push(s.points[0][1]);
          }
        }
      } catch {}
      state.busyMs += performance.now() - t0;
      res.writeHead(202).end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { state, port: server.address().port, close: () => new Promise((r) => server.close(r)) };
}
