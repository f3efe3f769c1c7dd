/** One GET returning JSON, for the discovery clients (undici, bounded in time and size). */
import { type Dispatcher, request } from 'undici';
import { DiscoveryError } from './types.js';

/** Responses larger than this are refused (a pod list of a big cluster fits easily). */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

export interface GetJsonOptions {
  readonly kind: string;
  readonly headers: Record<string, string>;
  readonly dispatcher: Dispatcher;
  readonly signal: AbortSignal;
  readonly timeoutMs: number;
}

export async function getJson(url: URL, opts: GetJsonOptions): Promise<unknown> {
  const signal = AbortSignal.any([opts.signal, AbortSignal.timeout(opts.timeoutMs)]);
  const where = `${url.origin}${url.pathname}`;
  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, {
      method: 'GET',
      headers: opts.headers,
      dispatcher: opts.dispatcher,
      signal,
    });
  } catch (err) {
    throw new DiscoveryError(opts.kind, `GET ${where}: ${(err as Error).message}`, { cause: err });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        res.body.destroy();
        throw new DiscoveryError(opts.kind, `GET ${where}: response larger than ${MAX_BODY_BYTES} bytes`);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof DiscoveryError) throw err;
    throw new DiscoveryError(opts.kind, `GET ${where}: reading the response: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (res.statusCode < 200 || res.statusCode > 299) {
    const excerpt = text.length > 200 ? `${text.slice(0, 200)}…` : text;
    throw new DiscoveryError(
      opts.kind,
      `GET ${where}: HTTP ${res.statusCode}${excerpt ? `: ${excerpt}` : ''}`,
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new DiscoveryError(opts.kind, `GET ${where}: invalid JSON: ${(err as Error).message}`);
  }
}
