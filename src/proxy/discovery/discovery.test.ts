/**
 * Discovery against strict fake Consul and Kubernetes API servers on 127.0.0.1:
 * every request is checked (method, path, query, auth headers) and anything
 * unexpected is answered 400 and recorded, failing the test.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hasOpenssl, makeTestPki, type TestPki } from '../../../test/helpers/tls-certs.js';
import { ConsulDiscoverer, consulEndpoint, parseHealthService } from './consul.js';
import { KubernetesDiscoverer, podAddresses } from './kubernetes.js';
import { StaticDiscoverer } from './static.js';

interface Fake {
  server: Server;
  port: number;
  problems: string[];
  requests: number;
  respond: (res: ServerResponse) => void;
}

async function listen(
  create: (h: (req: IncomingMessage, res: ServerResponse) => void) => Server,
  check: (req: IncomingMessage) => string | null,
): Promise<Fake> {
  const fake: Fake = {
    server: undefined as unknown as Server,
    port: 0,
    problems: [],
    requests: 0,
    respond: (res) => {
      res.statusCode = 500;
      res.end();
    },
  };
  fake.server = create((req, res) => {
    fake.requests++;
    const problem = check(req);
    if (problem !== null) {
      fake.problems.push(problem);
      res.statusCode = 400;
      res.end(problem);
      return;
    }
    fake.respond(res);
  });
  await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
  fake.port = (fake.server.address() as AddressInfo).port;
  return fake;
}

function json(body: unknown, status = 200): (res: ServerResponse) => void {
  return (res) => {
    res.statusCode = status;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(body));
  };
}

const signal = () => AbortSignal.timeout(5000);

// Consul's /v1/health/service answer for two healthy nodes (shape of Go Veneur's
// discovery/consul/testdata/health_service_two.json; node and service addresses differ
// here so the test shows the NODE address is used).
const TWO = [
  {
    Node: { Node: 'foobar1', Address: '10.1.10.12', TaggedAddresses: { lan: '10.1.10.12' } },
    Service: { ID: 'veneur', Service: 'veneur-global', Tags: null, Address: '192.168.0.1', Port: 8000 },
    Checks: [{ Node: 'foobar1', CheckID: 'serfHealth', Status: 'passing' }],
  },
  {
    Node: { Node: 'foobar2', Address: '10.1.10.13', TaggedAddresses: { lan: '10.1.10.13' } },
    Service: { ID: 'veneur', Service: 'veneur-global', Tags: null, Address: '', Port: 8001 },
    Checks: [],
  },
];

describe('consul discovery', () => {
  let fake: Fake;
  let expectToken: string | undefined;

  before(async () => {
    fake = await listen(createHttpServer, (req) => {
      const url = new URL(req.url ?? '', 'http://x');
      if (req.method !== 'GET') return `method ${req.method}`;
      if (url.pathname !== '/v1/health/service/veneur-global') return `path ${url.pathname}`;
      if (url.search !== '?passing=1') return `query ${url.search}`;
      const token = req.headers['x-consul-token'];
      if (token !== expectToken) return `x-consul-token ${String(token)} (expected ${String(expectToken)})`;
      if (req.headers.authorization !== undefined) return 'unexpected authorization header';
      if (url.searchParams.has('token')) return 'token in the query string';
      return null;
    });
  });
  after(() => fake.server.close());

  it('GETs /v1/health/service/<name>?passing=1 and returns Node.Address:Service.Port', async () => {
    expectToken = undefined;
    fake.respond = json(TWO);
    const d = new ConsulDiscoverer({
      service: 'veneur-global',
      env: { CONSUL_HTTP_ADDR: `127.0.0.1:${fake.port}` },
    });
    try {
      assert.deepEqual(await d.discover(signal()), ['10.1.10.12:8000', '10.1.10.13:8001']);
    } finally {
      await d.close();
    }
    assert.deepEqual(fake.problems, []);
  });

  it('sends the ACL token as X-Consul-Token only when one is configured', async () => {
    expectToken = 's3cr3t';
    fake.respond = json(TWO.slice(0, 1));
    const d = new ConsulDiscoverer({
      service: 'veneur-global',
      env: { CONSUL_HTTP_ADDR: `http://127.0.0.1:${fake.port}`, CONSUL_HTTP_TOKEN: 's3cr3t' },
    });
    try {
      assert.deepEqual(await d.discover(signal()), ['10.1.10.12:8000']);
    } finally {
      await d.close();
    }
    // the config keys win over the environment
    const d2 = new ConsulDiscoverer({
      service: 'veneur-global',
      address: `127.0.0.1:${fake.port}`,
      token: 's3cr3t',
      env: { CONSUL_HTTP_ADDR: '127.0.0.1:1', CONSUL_HTTP_TOKEN: 'other' },
    });
    try {
      assert.deepEqual(await d2.discover(signal()), ['10.1.10.12:8000']);
    } finally {
      await d2.close();
    }
    assert.deepEqual(fake.problems, []);
  });

  it('zero entries, HTTP errors, bad JSON and connection errors are errors', async () => {
    expectToken = undefined;
    const d = new ConsulDiscoverer({
      service: 'veneur-global',
      env: { CONSUL_HTTP_ADDR: `127.0.0.1:${fake.port}` },
    });
    try {
      fake.respond = json([]);
      await assert.rejects(d.discover(signal()), /received no hosts from Consul/);
      fake.respond = json({ error: 'x' }, 500);
      await assert.rejects(d.discover(signal()), /HTTP 500/);
      fake.respond = (res) => res.end('not json');
      await assert.rejects(d.discover(signal()), /invalid JSON/);
    } finally {
      await d.close();
    }
    const down = new ConsulDiscoverer({ service: 'veneur-global', env: { CONSUL_HTTP_ADDR: '127.0.0.1:1' } });
    try {
      await assert.rejects(down.discover(signal()), /consul discovery: GET http:\/\/127\.0\.0\.1:1/);
    } finally {
      await down.close();
    }
    assert.deepEqual(fake.problems, []);
  });

  it('resolves the agent address like api.DefaultConfig', () => {
    assert.equal(
      consulEndpoint({ service: 's', env: {} }).url.href,
      'http://127.0.0.1:8500/v1/health/service/s?passing=1',
    );
    assert.equal(
      consulEndpoint({ service: 's', env: { CONSUL_HTTP_ADDR: 'consul:8501', CONSUL_HTTP_SSL: 'true' } }).url
        .href,
      'https://consul:8501/v1/health/service/s?passing=1',
    );
    assert.equal(
      consulEndpoint({ service: 's', env: { CONSUL_HTTP_ADDR: 'https://consul:8501/' } }).url.href,
      'https://consul:8501/v1/health/service/s?passing=1',
    );
    assert.equal(
      consulEndpoint({ service: 's', env: { CONSUL_HTTP_AUTH: 'u:p' } }).headers.authorization,
      `Basic ${Buffer.from('u:p').toString('base64')}`,
    );
    assert.throws(
      () => consulEndpoint({ service: 's', env: { CONSUL_HTTP_ADDR: 'unix:///tmp/c.sock' } }),
      /unsupported/,
    );
  });

  it('parses entries, skipping unusable ones, bracketing IPv6 node addresses', () => {
    assert.deepEqual(
      parseHealthService([
        { Node: { Address: 'fd00::1' }, Service: { Port: 8128 } },
        { Node: { Address: '' }, Service: { Port: 8128 } },
        { Node: { Address: '10.0.0.1' }, Service: {} },
        { Node: { Address: '10.0.0.2' }, Service: { Port: 8128 } },
      ]),
      ['[fd00::1]:8128', '10.0.0.2:8128'],
    );
    assert.throws(() => parseHealthService({}), /expected a JSON array/);
  });
});

function pod(
  name: string,
  opts: {
    phase?: string;
    ip?: string;
    ports?: { name?: string; containerPort: number }[][];
    deleting?: boolean;
  },
): unknown {
  return {
    metadata: {
      name,
      namespace: 'default',
      labels: { app: 'veneur-global' },
      ...(opts.deleting ? { deletionTimestamp: '2024-01-01T00:00:00Z' } : {}),
    },
    spec: {
      containers: (opts.ports ?? [[{ name: 'grpc', containerPort: 8128 }]]).map((ports, i) => ({
        name: `c${i}`,
        ports,
      })),
    },
    status: { phase: opts.phase ?? 'Running', ...(opts.ip === undefined ? {} : { podIP: opts.ip }) },
  };
}

describe('kubernetes discovery', { skip: hasOpenssl() ? false : 'openssl CLI not found' }, () => {
  let pki: TestPki;
  let fake: Fake;
  let tokenFile: string;
  let caFile: string;
  let token = 'token-1';
  let expectPath = '/api/v1/pods';
  let expectSelector = 'app=veneur-global';

  before(async () => {
    pki = makeTestPki();
    tokenFile = join(pki.dir, 'token');
    caFile = join(pki.dir, 'k8s-ca.crt');
    writeFileSync(tokenFile, `${token}\n`);
    writeFileSync(caFile, pki.caCert);
    fake = await listen(
      (h) => createHttpsServer({ key: pki.serverKey, cert: pki.serverCert }, h),
      (req) => {
        const url = new URL(req.url ?? '', 'https://x');
        if (req.method !== 'GET') return `method ${req.method}`;
        if (url.pathname !== expectPath) return `path ${url.pathname}`;
        const keys = [...url.searchParams.keys()];
        if (keys.length !== 1 || url.searchParams.get('labelSelector') !== expectSelector)
          return `query ${url.search}`;
        if (req.headers.authorization !== `Bearer ${token}`)
          return `authorization ${String(req.headers.authorization)}`;
        return null;
      },
    );
  });
  after(() => {
    fake?.server.close();
    pki?.cleanup();
  });

  const env = () => ({ KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(fake.port) });

  it('lists pods by label selector with the bearer token over the cluster CA', async () => {
    fake.respond = json({
      kind: 'PodList',
      apiVersion: 'v1',
      items: [
        pod('ok-1', { ip: '10.2.0.1' }),
        pod('pending', { phase: 'Pending', ip: '10.2.0.2' }),
        pod('no-ip', {}),
        pod('terminating', { ip: '10.2.0.3', deleting: true }),
        pod('wrong-port', { ip: '10.2.0.4', ports: [[{ name: 'http', containerPort: 8127 }]] }),
        pod('second-container', {
          ip: '10.2.0.5',
          ports: [[{ name: 'statsd', containerPort: 8126 }], [{ name: 'grpc', containerPort: 9000 }]],
        }),
        pod('failed', { phase: 'Failed', ip: '10.2.0.6' }),
      ],
    });
    const d = new KubernetesDiscoverer({ env: env(), tokenFile, caFile });
    try {
      assert.deepEqual(await d.discover(signal()), ['10.2.0.1:8128', '10.2.0.5:9000']);
      // the token is read again on every query (bound tokens rotate)
      token = 'token-2';
      writeFileSync(tokenFile, token);
      assert.deepEqual(await d.discover(signal()), ['10.2.0.1:8128', '10.2.0.5:9000']);
    } finally {
      await d.close();
    }
    assert.deepEqual(fake.problems, []);
  });

  it('honours namespace, selector and port name settings', async () => {
    expectPath = '/api/v1/namespaces/metrics/pods';
    expectSelector = 'app=veneur,tier=global';
    fake.respond = json({
      items: [pod('a', { ip: '10.3.0.1', ports: [[{ name: 'import', containerPort: 7000 }]] })],
    });
    const d = new KubernetesDiscoverer({
      env: env(),
      tokenFile,
      caFile,
      namespace: 'metrics',
      labelSelector: 'app=veneur,tier=global',
      portName: 'import',
    });
    try {
      assert.deepEqual(await d.discover(signal()), ['10.3.0.1:7000']);
    } finally {
      await d.close();
      expectPath = '/api/v1/pods';
      expectSelector = 'app=veneur-global';
    }
    assert.deepEqual(fake.problems, []);
  });

  it('errors: no usable pod, API error, untrusted server, not in a cluster', async () => {
    const d = new KubernetesDiscoverer({ env: env(), tokenFile, caFile });
    try {
      fake.respond = json({ items: [pod('p', { phase: 'Pending', ip: '10.0.0.1' })] });
      await assert.rejects(d.discover(signal()), /no running pod with a port named "grpc"/);
      fake.respond = json({ kind: 'Status', message: 'pods is forbidden' }, 403);
      await assert.rejects(d.discover(signal()), /HTTP 403.*forbidden/);
    } finally {
      await d.close();
    }
    const otherCa = join(pki.dir, 'other-ca.crt');
    writeFileSync(otherCa, pki.otherCaCert);
    const untrusted = new KubernetesDiscoverer({ env: env(), tokenFile, caFile: otherCa });
    try {
      const before = fake.requests;
      await assert.rejects(untrusted.discover(signal()), /kubernetes discovery/);
      assert.equal(fake.requests, before, 'no request must reach a server whose certificate is not trusted');
    } finally {
      await untrusted.close();
    }
    assert.throws(() => new KubernetesDiscoverer({ env: {}, tokenFile, caFile }), /KUBERNETES_SERVICE_HOST/);
    assert.deepEqual(fake.problems, []);
  });

  it('podAddresses rejects a body that is not a PodList', () => {
    assert.throws(() => podAddresses({ kind: 'Status' }, 'grpc'), /PodList/);
  });
});

describe('static discovery', () => {
  it('returns the configured list, de-duplicated', async () => {
    const d = new StaticDiscoverer(['a:1', 'b:2', 'a:1']);
    assert.deepEqual(await d.discover(), ['a:1', 'b:2']);
  });
});
