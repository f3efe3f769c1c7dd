/**
 * `-hostport`: a listener-style URL (`udp://h:p`, `tcp://h:p`, `udp6://[::1]:p`,
 * `unix:///path/to.sock`, `unix:@abstract`) or a bare `host:port`, which means UDP.
 */
import { parseHostPort, parseListenAddress } from '../util/address.js';

export interface NetDestination {
  readonly transport: 'udp' | 'tcp';
  /** 4 or 6 when the scheme forces a family (`udp4://`, `tcp6://`), else 0 */
  readonly family: 0 | 4 | 6;
  /** '' = this host */
  readonly host: string;
  readonly port: number;
  readonly text: string;
}

export interface UnixDestination {
  readonly transport: 'unix';
  /** filesystem path, or `\0name` for a Linux abstract socket */
  readonly path: string;
  readonly text: string;
}

export type Destination = NetDestination | UnixDestination;

/** Parse `-hostport`; throws an Error with a one-line message when it is unusable. */
export function parseDestination(hostport: string): Destination {
  if (hostport === '') throw new Error('-hostport is required (e.g. udp://127.0.0.1:8126 or 127.0.0.1:8126)');
  if (!hostport.includes('://') && !/^unix(gram)?:/i.test(hostport)) {
    const hp = parseHostPort(hostport);
    if (hp === null || hp.port === 0)
      throw new Error(`-hostport ${JSON.stringify(hostport)} is neither a URL nor host:port`);
    return { transport: 'udp', family: 0, host: hp.host, port: hp.port, text: `udp://${hostport}` };
  }
  const addr = parseListenAddress(hostport);
  if (addr === null) throw new Error(`-hostport ${JSON.stringify(hostport)} is not a valid address URL`);
  switch (addr.scheme) {
    case 'unix': {
      const path = addr.path.startsWith('@') ? `\0${addr.path.slice(1)}` : addr.path;
      return { transport: 'unix', path, text: hostport };
    }
    case 'unixgram':
      throw new Error(
        `-hostport ${hostport}: unixgram is not supported by this veneur-emit; use udp://, tcp:// or unix://`,
      );
    default: {
      if (addr.port === 0) throw new Error(`-hostport ${hostport}: a port is required`);
      const family = addr.scheme.endsWith('4') ? 4 : addr.scheme.endsWith('6') ? 6 : 0;
      const transport = addr.scheme.startsWith('udp') ? 'udp' : 'tcp';
      return { transport, family, host: addr.host, port: addr.port, text: hostport };
    }
  }
}
