/**
 * Listener URLs as Veneur writes them (reference §1.1): `udp://127.0.0.1:8126`,
 * `tcp://:8126` (all interfaces), `udp6://[::1]:8126`, `unixgram:///tmp/x.sock`,
 * `unix:@abstract`.
 */
export interface ListenAddress {
  readonly scheme: string;
  /** '' = all interfaces */
  readonly host: string;
  readonly port: number;
  /** socket path for unix schemes ('@name' for abstract sockets) */
  readonly path: string;
  readonly text: string;
}

const NET_SCHEMES = new Set(['udp', 'udp4', 'udp6', 'tcp', 'tcp4', 'tcp6']);
const UNIX_SCHEMES = new Set(['unix', 'unixgram']);

/** Parse `host:port` (`:port`, `[v6]:port`). Returns null when malformed. */
export function parseHostPort(text: string): { host: string; port: number } | null {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') return null;
    host = text.slice(1, close);
    portText = text.slice(close + 2);
  } else {
    const i = text.lastIndexOf(':');
    if (i < 0) return null;
    host = text.slice(0, i);
    portText = text.slice(i + 1);
    if (host.includes(':')) return null;
  }
  if (!/^\d{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  if (port > 65535) return null;
  return { host, port };
}

export function parseListenAddress(text: string): ListenAddress | null {
  const sep = text.indexOf('://');
  const colon = text.indexOf(':');
  if (colon <= 0) return null;
  const scheme = text.slice(0, colon).toLowerCase();
  if (UNIX_SCHEMES.has(scheme)) {
    // unixgram:///path, unixgram://@name, unix:@name
    const path = sep === colon ? text.slice(sep + 3) : text.slice(colon + 1);
    if (path === '') return null;
    return { scheme, host: '', port: 0, path, text };
  }
  if (!NET_SCHEMES.has(scheme) || sep !== colon) return null;
  let rest = text.slice(sep + 3);
  const slash = rest.indexOf('/');
  if (slash >= 0) rest = rest.slice(0, slash);
  const hp = parseHostPort(rest);
  if (hp === null) return null;
  return { scheme, host: hp.host, port: hp.port, path: '', text };
}
