/**
 * deploy/: the Kubernetes manifests and the Dockerfile are checked against the
 * code they configure, so that a renamed key, a typo in a VENEUR_* variable or a
 * Service pointing at a port nobody listens on fails here and not in a cluster.
 *
 * - every manifest parses (multi-document YAML) and every object is well-formed;
 * - Deployments, Services and PodDisruptionBudgets agree on labels and ports,
 *   probes hit declared ports, mounts hit declared volumes and ConfigMaps;
 * - every VENEUR_* variable of a veneur container is a root config key (derived
 *   from the zod schema with envName, as the loader does), every VENEUR_PROXY_*
 *   variable a veneur-proxy key, every other variable a key of a sink declared in
 *   the mounted config's metric_sinks;
 * - the mounted configs load with loadConfig in strict mode, with the container's
 *   environment, and each sink's `config:` parses with its kind's parser;
 * - the mounted veneur-proxy config loads with loadProxyConfig in strict mode;
 * - the three tiers connect: local forward_address -> proxy Service -> proxy pods,
 *   proxy discovery -> global pods (and the RBAC that allows it), ports and
 *   intervals agree;
 * - the Dockerfile runs as the uid the pods declare, exposes their ports, and the
 *   binaries the pods run exist and are made executable by `npm run build`.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { sinkEnvPrefix } from '../src/app/build.js';
import { metricSinkKinds } from '../src/app/registry.js';
import { loadConfig } from '../src/config/load.js';
import { rootSchema } from '../src/config/schema.js';
import { envName } from '../src/config/section.js';
import type { Config } from '../src/config/types.js';
import { loadProxyConfig, type ProxyConfig, proxySchema } from '../src/proxy/config.js';
import { datadogConfigSchema } from '../src/sinks/datadog/config.js';
import { debugConfigSchema } from '../src/sinks/debug/sink.js';
import { localfileConfigSchema } from '../src/sinks/localfile/config.js';
import { parseHostPort } from '../src/util/address.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const K8S_DIR = path.join(ROOT, 'deploy/kubernetes');
const DOCKERFILE = path.join(ROOT, 'deploy/Dockerfile');
const NAMESPACE = 'veneur';

// ---------------------------------------------------------------------------
// Key trees: which keys (and so which env variables) a config section accepts

type KeyNode =
  | { readonly kind: 'map'; readonly children: ReadonlyMap<string, KeyNode> }
  /** `env`: can a variable set it (not a list of maps or a free-form map)? */
  | { readonly kind: 'value'; readonly env: boolean };
type KeyMap = ReadonlyMap<string, KeyNode>;

interface ZodDefLike {
  type: string;
  innerType?: unknown;
  in?: unknown;
  element?: unknown;
  shape?: Record<string, unknown>;
}

function zodDef(schema: unknown): ZodDefLike {
  return (schema as { _zod: { def: ZodDefLike } })._zod.def;
}

/** Strip optional/default/nullable/prefault and transform pipes (as section.ts does). */
function unwrapZod(schema: unknown): unknown {
  let s = schema;
  for (let i = 0; i < 16; i++) {
    const d = zodDef(s);
    if (['optional', 'default', 'nullable', 'prefault'].includes(d.type) && d.innerType) s = d.innerType;
    else if (d.type === 'pipe' && d.in) s = d.in;
    else return s;
  }
  return s;
}

function isZodObject(schema: unknown): boolean {
  try {
    return zodDef(unwrapZod(schema)).type === 'object';
  } catch {
    return false;
  }
}

function zodShape(schema: unknown): Record<string, unknown> {
  const u = unwrapZod(schema) as { shape?: Record<string, unknown> };
  assert.ok(u.shape, 'expected a zod object schema');
  return u.shape;
}

function keyTreeFromZod(schema: unknown): KeyMap {
  const out = new Map<string, KeyNode>();
  for (const [key, child] of Object.entries(zodShape(schema))) {
    const d = zodDef(unwrapZod(child));
    if (d.type === 'object') {
      out.set(key, { kind: 'map', children: keyTreeFromZod(child) });
    } else if (d.type === 'array') {
      out.set(key, { kind: 'value', env: !isZodObject(d.element) });
    } else {
      out.set(key, { kind: 'value', env: d.type !== 'record' });
    }
  }
  return out;
}

/** Env variable -> YAML key path, as the loaders' overlay names them (nested maps add `_<KEY>`). */
function envNamesOf(tree: KeyMap, prefix: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (t: KeyMap, pre: string, keyPath: string) => {
    for (const [key, node] of t) {
      const name = envName(pre, key);
      const p = keyPath === '' ? key : `${keyPath}.${key}`;
      if (node.kind === 'map') walk(node.children, name, p);
      else if (node.env) out.set(name, p);
    }
  };
  walk(tree, prefix, '');
  return out;
}

/** Dotted paths of every key of `raw` that the tree does not have. */
function unknownKeys(tree: KeyMap, raw: unknown, at = ''): string[] {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return [];
  const found: string[] = [];
  for (const [key, value] of Object.entries(raw)) {
    const p = at === '' ? key : `${at}.${key}`;
    const node = tree.get(key);
    if (node === undefined) found.push(p);
    else if (node.kind === 'map') found.push(...unknownKeys(node.children, value, p));
  }
  return found;
}

const ROOT_KEYS = keyTreeFromZod(rootSchema);
const ROOT_ENV = envNamesOf(ROOT_KEYS, 'VENEUR');
/** Read by the loggers of veneur and veneur-proxy, not a config key (README, "Environment overrides"). */
const ROOT_ENV_EXTRA = new Set(['VENEUR_LOG_LEVEL']);

/** Sink kind -> the schema of its `config:` map, for the per-sink env overlay. */
const SINK_CONFIG_SCHEMAS: ReadonlyMap<string, unknown> = new Map<string, unknown>([
  ['datadog', datadogConfigSchema],
  ['debug', debugConfigSchema],
  ['localfile', localfileConfigSchema],
]);

const PROXY_KEYS = keyTreeFromZod(proxySchema);
const PROXY_ENV = envNamesOf(PROXY_KEYS, 'VENEUR_PROXY');

// ---------------------------------------------------------------------------
// Manifests

interface Metadata {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: Metadata;
  file: string;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    secretKeyRef?: { name: string; key: string };
    configMapKeyRef?: { name: string; key: string };
  };
}
interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}
interface Probe {
  httpGet?: { path?: string; port: number | string };
  tcpSocket?: { port: number | string };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: ContainerPort[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  volumeMounts?: { name: string; mountPath: string; subPath?: string }[];
}
interface Volume {
  name: string;
  configMap?: { name: string; items?: { key: string; path: string }[] };
  secret?: { secretName: string };
}
interface PodSpec {
  containers: Container[];
  volumes?: Volume[];
  serviceAccountName?: string;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
}
interface Deployment extends K8sObject {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
  };
}
interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
}
interface Service extends K8sObject {
  spec: { selector?: Record<string, string>; clusterIP?: string; ports: ServicePort[] };
}
interface ConfigMap extends K8sObject {
  data?: Record<string, string>;
}
interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}
interface Role extends K8sObject {
  rules: PolicyRule[];
}
interface RoleBinding extends K8sObject {
  roleRef: { apiGroup: string; kind: string; name: string };
  subjects: { kind: string; name: string; namespace?: string }[];
}
interface Pdb extends K8sObject {
  spec: { selector: { matchLabels: Record<string, string> } };
}

const manifestFiles = readdirSync(K8S_DIR)
  .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
  .sort();

/** Every document of every file (null for a document that failed to parse; reported by the first test). */
const parsed = manifestFiles.map((file) => {
  const docs = YAML.parseAllDocuments(readFileSync(path.join(K8S_DIR, file), 'utf8'));
  return { file, docs };
});

const objects: K8sObject[] = [];
for (const { file, docs } of parsed) {
  if (!Array.isArray(docs)) continue;
  for (const doc of docs) {
    if (doc.errors.length > 0) continue;
    const v = doc.toJS() as unknown;
    if (v === null || typeof v !== 'object') continue;
    objects.push({ ...(v as K8sObject), file });
  }
}

const clusterObjects = objects.filter((o) => o.kind !== 'Kustomization');
const ofKind = <T extends K8sObject>(kind: string) => clusterObjects.filter((o) => o.kind === kind) as T[];
const deployments = ofKind<Deployment>('Deployment');
const services = ofKind<Service>('Service');
const configMaps = ofKind<ConfigMap>('ConfigMap');

function find<T extends K8sObject>(kind: string, name: string, namespace: string | undefined): T {
  const o = clusterObjects.find(
    (x) => x.kind === kind && x.metadata.name === name && x.metadata.namespace === namespace,
  );
  assert.ok(o, `no ${kind} ${namespace}/${name} in deploy/kubernetes`);
  return o as T;
}

function labelsMatch(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => labels?.[k] === v);
}

/** Pods (as their Deployments) that a selector picks in a namespace. */
function selectedDeployments(selector: Record<string, string>, namespace: string | undefined): Deployment[] {
  return deployments.filter(
    (d) => d.metadata.namespace === namespace && labelsMatch(selector, d.spec.template.metadata.labels),
  );
}

/** A container port by name or number (and protocol). */
function containerPort(c: Container, port: number | string, protocol = 'TCP'): ContainerPort | undefined {
  return (c.ports ?? []).find(
    (p) =>
      (typeof port === 'number' ? p.containerPort === port : p.name === port) &&
      (p.protocol ?? 'TCP') === protocol,
  );
}

// ---------------------------------------------------------------------------
// Containers: which program they run, their environment, their config file

type Program = 'veneur' | 'veneur-proxy' | 'veneur-emit' | 'other';
const BIN_DIR = '/app/dist/main/';

function programOf(c: Container): Program {
  const cmd = c.command?.[0] ?? '';
  if (!cmd.startsWith(BIN_DIR)) return 'other';
  const name = path.basename(cmd, '.js');
  return name === 'veneur' || name === 'veneur-proxy' || name === 'veneur-emit' ? name : 'other';
}

interface Placed {
  deployment: Deployment;
  container: Container;
}

const containers: Placed[] = deployments.flatMap((deployment) =>
  deployment.spec.template.spec.containers.map((container) => ({ deployment, container })),
);
const veneurs = containers.filter((p) => programOf(p.container) === 'veneur');
const proxies = containers.filter((p) => programOf(p.container) === 'veneur-proxy');

/** Placeholder values for what the kubelet fills in. */
const FIELD_REFS: Record<string, string> = {
  'metadata.name': 'example-pod-7d9f8-abcde',
  'metadata.namespace': NAMESPACE,
  'spec.nodeName': 'node-1',
  'status.podIP': '10.1.2.3',
  'status.hostIP': '10.0.0.1',
};

/** The container's environment as the process would see it (Secrets as placeholders). */
function containerEnv(c: Container, namespace: string | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    assert.ok(!(e.name in env), `${c.name}: ${e.name} is set twice`);
    if (e.value !== undefined) {
      env[e.name] = String(e.value);
    } else if (e.valueFrom?.fieldRef) {
      const v = FIELD_REFS[e.valueFrom.fieldRef.fieldPath];
      assert.ok(
        v !== undefined,
        `${c.name}: ${e.name}: unexpected fieldRef ${e.valueFrom.fieldRef.fieldPath}`,
      );
      env[e.name] = v;
    } else if (e.valueFrom?.secretKeyRef) {
      const { name, key } = e.valueFrom.secretKeyRef;
      assert.ok(name && key, `${c.name}: ${e.name}: secretKeyRef needs name and key`);
      env[e.name] = `secret-${name}-${key}-0123456789abcdef`;
    } else if (e.valueFrom?.configMapKeyRef) {
      const { name, key } = e.valueFrom.configMapKeyRef;
      const v = find<ConfigMap>('ConfigMap', name, namespace).data?.[key];
      assert.ok(v !== undefined, `${c.name}: ${e.name}: ConfigMap ${name} has no key ${key}`);
      env[e.name] = v;
    } else {
      assert.fail(`${c.name}: ${e.name} has neither value nor a supported valueFrom`);
    }
  }
  return env;
}

/** The file given with `-f`, resolved through the mounts to a ConfigMap entry. */
function configFile(p: Placed): { file: string; configMap: string; key: string; text: string } {
  const args = p.container.args ?? [];
  const i = args.indexOf('-f');
  assert.ok(i >= 0 && args[i + 1], `${p.container.name}: expected -f <config file> in args`);
  const file = args[i + 1]!;
  for (const vm of p.container.volumeMounts ?? []) {
    let rel: string | undefined;
    if (vm.subPath !== undefined) {
      if (file === vm.mountPath) rel = vm.subPath;
    } else if (file.startsWith(`${vm.mountPath.replace(/\/$/, '')}/`)) {
      rel = file.slice(vm.mountPath.replace(/\/$/, '').length + 1);
    }
    if (rel === undefined) continue;
    const volume = p.deployment.spec.template.spec.volumes?.find((v) => v.name === vm.name);
    assert.ok(volume?.configMap, `${p.container.name}: ${file} is not on a ConfigMap volume`);
    const key = volume.configMap.items ? volume.configMap.items.find((it) => it.path === rel)?.key : rel;
    assert.ok(key, `${p.container.name}: ${file}: no ConfigMap item has path ${rel}`);
    const cm = find<ConfigMap>('ConfigMap', volume.configMap.name, p.deployment.metadata.namespace);
    const text = cm.data?.[key];
    assert.ok(text !== undefined, `ConfigMap ${cm.metadata.name} has no key ${key} (mounted as ${file})`);
    return { file, configMap: cm.metadata.name, key, text };
  }
  assert.fail(`${p.container.name}: ${file} is not under any volumeMount`);
}

function loadServer(p: Placed): Config {
  const { text, file } = configFile(p);
  return loadConfig({
    text,
    file,
    env: containerEnv(p.container, p.deployment.metadata.namespace),
    strict: true,
  });
}

function loadProxy(p: Placed): ProxyConfig {
  const { text, file } = configFile(p);
  return loadProxyConfig({
    text,
    file,
    env: containerEnv(p.container, p.deployment.metadata.namespace),
    strict: true,
  });
}

/** An equality-based label selector (`a=b,c=d`) as a map. */
function parseLabelSelector(selector: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of selector.split(',')) {
    const m = /^\s*([^=!\s]+)\s*==?\s*([^=!\s]*)\s*$/.exec(part);
    assert.ok(m, `label selector ${JSON.stringify(selector)}: only k=v terms are checked here`);
    out[m[1]!] = m[2]!;
  }
  return out;
}

/** `svc.ns.svc[.cluster.local]:port` -> the Service, its port, and the pods behind it. */
function resolveServiceAddress(address: string, protocol: 'TCP' | 'UDP', fromNamespace: string | undefined) {
  const hp = parseHostPort(address);
  assert.ok(hp, `${address}: expected host:port`);
  const labels = hp.host.split('.');
  const [svcName, ns = fromNamespace] = labels;
  assert.ok(
    labels.length === 1 ||
      (labels.length === 2 && ns !== 'svc') ||
      (labels.length === 3 && labels[2] === 'svc') ||
      (labels.length === 5 && labels.slice(2).join('.') === 'svc.cluster.local'),
    `${address}: expected <service>.<namespace>.svc`,
  );
  const service = find<Service>('Service', svcName!, ns);
  const port = service.spec.ports.find((sp) => sp.port === hp.port && (sp.protocol ?? 'TCP') === protocol);
  assert.ok(port, `${address}: Service ${service.metadata.name} has no ${protocol} port ${hp.port}`);
  const pods = selectedDeployments(service.spec.selector ?? {}, ns);
  assert.ok(pods.length > 0, `${address}: Service ${service.metadata.name} selects no pods`);
  const target = port.targetPort ?? port.port;
  const backends = pods.flatMap((d) =>
    d.spec.template.spec.containers
      .map((c) => ({ deployment: d, container: c, port: containerPort(c, target, protocol) }))
      .filter((x) => x.port !== undefined),
  );
  assert.ok(backends.length > 0, `${address}: no container port ${target}/${protocol} behind it`);
  return { service, port, backends };
}

function listenPort(address: string): number {
  const hp = parseHostPort(address);
  assert.ok(hp, `${address}: expected host:port`);
  return hp.port;
}

// ---------------------------------------------------------------------------

describe('deploy/kubernetes', () => {
  test('every manifest parses and every object names itself', () => {
    assert.ok(manifestFiles.length > 0, 'no manifests in deploy/kubernetes');
    for (const { file, docs } of parsed) {
      for (const doc of docs) {
        assert.deepEqual(
          doc.errors.map((e) => e.message),
          [],
          `${file}: YAML errors`,
        );
        const v = doc.toJS() as Partial<K8sObject> | null;
        assert.ok(v !== null && typeof v === 'object', `${file}: empty document`);
        assert.equal(typeof v.apiVersion, 'string', `${file}: apiVersion`);
        assert.equal(typeof v.kind, 'string', `${file}: kind`);
        if (v.kind !== 'Kustomization') {
          assert.equal(typeof v.metadata?.name, 'string', `${file}: ${v.kind} without metadata.name`);
        }
      }
    }
    const keys = clusterObjects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);
    assert.deepEqual(
      keys.filter((k, i) => keys.indexOf(k) !== i),
      [],
      'duplicate objects',
    );
  });

  test('apiVersions are the stable ones', () => {
    const expected: Record<string, string> = {
      Namespace: 'v1',
      ConfigMap: 'v1',
      Service: 'v1',
      ServiceAccount: 'v1',
      Deployment: 'apps/v1',
      Role: 'rbac.authorization.k8s.io/v1',
      RoleBinding: 'rbac.authorization.k8s.io/v1',
      PodDisruptionBudget: 'policy/v1',
    };
    for (const o of clusterObjects) {
      assert.ok(o.kind in expected, `${o.file}: unexpected kind ${o.kind} (add it to this test)`);
      assert.equal(o.apiVersion, expected[o.kind], `${o.file}: ${o.kind} ${o.metadata.name}`);
    }
  });

  test('the kustomization lists every manifest, and the image it rewrites is the one used', () => {
    const k = objects.find((o) => o.kind === 'Kustomization') as
      | (K8sObject & { resources: string[]; images?: { name: string }[] })
      | undefined;
    assert.ok(k, 'deploy/kubernetes/kustomization.yaml');
    assert.deepEqual(
      [...k.resources].sort(),
      manifestFiles.filter((f) => f !== k.file),
    );
    const images = new Set(containers.map((p) => p.container.image.replace(/:[^:/]+$/, '')));
    assert.deepEqual(
      [...images],
      (k.images ?? []).map((i) => i.name),
    );
  });

  test(`everything is in namespace ${NAMESPACE}`, () => {
    find('Namespace', NAMESPACE, undefined);
    for (const o of clusterObjects) {
      if (o.kind === 'Namespace') continue;
      assert.equal(o.metadata.namespace, NAMESPACE, `${o.kind} ${o.metadata.name}`);
    }
  });

  test('Deployments: selectors, resources, probes, ports, volumes, service accounts, non-root', () => {
    assert.ok(deployments.length >= 3);
    for (const d of deployments) {
      const where = `Deployment ${d.metadata.name}`;
      const pod = d.spec.template.spec;
      assert.ok(
        labelsMatch(d.spec.selector.matchLabels, d.spec.template.metadata.labels),
        `${where}: selector does not match the pod labels`,
      );
      assert.equal(pod.securityContext?.runAsNonRoot, true, `${where}: runAsNonRoot`);
      assert.ok(Number.isInteger(pod.securityContext?.runAsUser), `${where}: numeric runAsUser`);
      if (pod.serviceAccountName !== undefined) {
        find('ServiceAccount', pod.serviceAccountName, d.metadata.namespace);
      }
      const portNames = new Set<string>();
      for (const c of pod.containers) {
        const cw = `${where}, container ${c.name}`;
        assert.ok(c.image, `${cw}: image`);
        for (const kind of ['requests', 'limits'] as const) {
          for (const r of ['cpu', 'memory']) {
            assert.ok(c.resources?.[kind]?.[r], `${cw}: resources.${kind}.${r}`);
          }
        }
        for (const p of c.ports ?? []) {
          assert.ok(Number.isInteger(p.containerPort) && p.containerPort > 0, `${cw}: containerPort`);
          if (p.name !== undefined) {
            assert.ok(/^[a-z0-9-]{1,15}$/.test(p.name), `${cw}: port name ${p.name} (<= 15 chars, a-z0-9-)`);
            assert.ok(!portNames.has(p.name), `${cw}: port name ${p.name} used twice in the pod`);
            portNames.add(p.name);
          }
        }
        for (const kind of ['readinessProbe', 'livenessProbe', 'startupProbe'] as const) {
          const probe = c[kind];
          if (!probe) continue;
          const port = probe.httpGet?.port ?? probe.tcpSocket?.port;
          assert.ok(port !== undefined, `${cw}: ${kind} has no httpGet/tcpSocket port`);
          assert.ok(containerPort(c, port), `${cw}: ${kind} port ${port} is not a TCP port of the container`);
          if (probe.httpGet) assert.ok(probe.httpGet.path?.startsWith('/'), `${cw}: ${kind} path`);
        }
        for (const vm of c.volumeMounts ?? []) {
          const v = pod.volumes?.find((x) => x.name === vm.name);
          assert.ok(v, `${cw}: volumeMount ${vm.name} has no volume`);
        }
      }
      for (const v of pod.volumes ?? []) {
        if (v.configMap) find('ConfigMap', v.configMap.name, d.metadata.namespace);
      }
    }
  });

  test('Services select pods and target ports that a container declares', () => {
    assert.ok(services.length >= 2);
    for (const s of services) {
      const where = `Service ${s.metadata.name}`;
      const pods = selectedDeployments(s.spec.selector ?? {}, s.metadata.namespace);
      assert.ok(pods.length > 0, `${where}: selector matches no Deployment's pods`);
      assert.ok(s.spec.ports.length > 0, `${where}: no ports`);
      for (const sp of s.spec.ports) {
        assert.ok(sp.name, `${where}: every port needs a name when there are several`);
        const target = sp.targetPort ?? sp.port;
        const protocol = sp.protocol ?? 'TCP';
        for (const d of pods) {
          const found = d.spec.template.spec.containers.some((c) => containerPort(c, target, protocol));
          assert.ok(
            found,
            `${where}: port ${sp.name} -> ${target}/${protocol}: not a port of ${d.metadata.name}`,
          );
        }
      }
    }
  });

  test('PodDisruptionBudgets select a Deployment with more than one replica', () => {
    for (const pdb of ofKind<Pdb>('PodDisruptionBudget')) {
      const pods = selectedDeployments(pdb.spec.selector.matchLabels, pdb.metadata.namespace);
      assert.equal(pods.length, 1, `PodDisruptionBudget ${pdb.metadata.name}`);
      assert.ok((pods[0]!.spec.replicas ?? 1) > 1, `PodDisruptionBudget ${pdb.metadata.name}: one replica`);
    }
  });

  test('every ConfigMap is used by a pod', () => {
    const used = new Set(
      deployments.flatMap((d) =>
        (d.spec.template.spec.volumes ?? []).flatMap((v) => (v.configMap ? [v.configMap.name] : [])),
      ),
    );
    for (const cm of configMaps)
      assert.ok(used.has(cm.metadata.name), `ConfigMap ${cm.metadata.name} is unused`);
  });

  test('every VENEUR_* variable of a veneur container is a root config key', () => {
    assert.ok(ROOT_ENV.has('VENEUR_FORWARDADDRESS') && ROOT_ENV.has('VENEUR_STATSDLISTENADDRESSES'));
    assert.ok(ROOT_ENV.has('VENEUR_HTTP_CONFIG'), 'nested keys add _<KEY>');
    assert.ok(!ROOT_ENV.has('VENEUR_METRICSINKS'), 'a list of maps cannot come from the environment');
    assert.ok(veneurs.length >= 2);
    for (const { container } of veneurs) {
      for (const e of container.env ?? []) {
        if (!e.name.startsWith('VENEUR_')) continue;
        assert.ok(
          ROOT_ENV.has(e.name) || ROOT_ENV_EXTRA.has(e.name),
          `${container.name}: ${e.name} is not a config key (keys: src/config/schema.ts)`,
        );
      }
    }
  });

  test('every other variable of a veneur container is a key of a sink in its mounted metric_sinks', () => {
    for (const p of veneurs) {
      const { configMap } = configFile(p);
      const config = loadServer(p);
      const allowed = new Map<string, string>();
      for (const sink of config.metricSinks) {
        const schema = SINK_CONFIG_SCHEMAS.get(sink.kind);
        if (schema === undefined) continue; // blackhole: no config
        const prefix = sinkEnvPrefix(sink.name);
        for (const [name, key] of envNamesOf(keyTreeFromZod(schema), prefix)) {
          allowed.set(name, `${sink.path}.config.${key}`);
        }
      }
      for (const e of p.container.env ?? []) {
        if (e.name.startsWith('VENEUR_')) continue;
        assert.ok(
          allowed.has(e.name),
          `${p.container.name}: ${e.name} is neither VENEUR_* nor a config key of a sink named in ConfigMap ${configMap} (known: ${[...allowed.keys()].join(', ')})`,
        );
      }
    }
  });

  test('the mounted veneur configs load with loadConfig (strict) and each sink config parses', () => {
    for (const p of veneurs) {
      const env = containerEnv(p.container, p.deployment.metadata.namespace);
      const warnings: string[] = [];
      const { text, file } = configFile(p);
      const config = loadConfig({ text, file, env, strict: true, onWarning: (w) => warnings.push(w) });
      assert.deepEqual(warnings, [], `${p.deployment.metadata.name}/${p.container.name}`);
      assert.ok(config.metricSinks.length > 0, `${p.container.name}: no metric sink`);
      for (const sink of config.metricSinks) {
        const def = metricSinkKinds.get(sink.kind);
        assert.ok(def, `${p.container.name}: sink kind ${sink.kind} is not implemented`);
        // as the app builds it: the sink's own env overlay, strict
        def.parseConfig(sink.config, {
          path: `${sink.path}.config`,
          envPrefix: sinkEnvPrefix(sink.name),
          env,
          strict: true,
        });
      }
    }
  });

  test('every VENEUR_PROXY_* variable and every key of the proxy config is a veneur-proxy key', () => {
    assert.ok(PROXY_ENV.has('VENEUR_PROXY_FORWARDADDRESSES') && PROXY_ENV.has('VENEUR_PROXY_STATSD_ADDRESS'));
    assert.equal(proxies.length, 1);
    for (const p of proxies) {
      for (const e of p.container.env ?? []) {
        assert.ok(
          PROXY_ENV.has(e.name) || ROOT_ENV_EXTRA.has(e.name),
          `${p.container.name}: ${e.name} is not a veneur-proxy key (keys: src/proxy/config.ts; VENEUR_PROXY_ + key without underscores)`,
        );
      }
      const { text, file } = configFile(p);
      assert.deepEqual(
        unknownKeys(PROXY_KEYS, YAML.parse(text)),
        [],
        `${p.container.name}: unknown keys in ${file}`,
      );
    }
  });

  test('the mounted veneur-proxy config loads with loadProxyConfig (strict)', () => {
    for (const p of proxies) {
      const { text, file } = configFile(p);
      const warnings: string[] = [];
      loadProxyConfig({
        text,
        file,
        env: containerEnv(p.container, p.deployment.metadata.namespace),
        strict: true,
        onWarning: (w) => warnings.push(w),
      });
      assert.deepEqual(warnings, [], `${p.deployment.metadata.name}/${p.container.name}`);
    }
  });

  test('the tiers connect: app -> local sidecar -> veneur-proxy -> veneur-global', () => {
    const locals = veneurs.filter((p) => loadServer(p).forwardAddress !== '');
    const globals = veneurs.filter((p) => loadServer(p).forwardAddress === '');
    assert.ok(locals.length >= 1 && globals.length >= 1, 'expected a local and a global tier');

    // locals: statsd on loopback, forward to the proxy Service, HTTP where the probe looks
    for (const p of locals) {
      const c = loadServer(p);
      assert.deepEqual(c.statsdListenAddresses, ['udp://127.0.0.1:8126'], 'sidecar listens on loopback');
      const { backends } = resolveServiceAddress(c.forwardAddress, 'TCP', p.deployment.metadata.namespace);
      for (const b of backends) {
        assert.equal(
          programOf(b.container),
          'veneur-proxy',
          `${c.forwardAddress} reaches ${b.container.name}`,
        );
      }
      const probe = p.container.livenessProbe?.httpGet;
      assert.ok(probe && containerPort(p.container, probe.port)?.containerPort === listenPort(c.httpAddress));
      assert.ok(!c.httpAddress.startsWith('127.'), 'the kubelet probes the pod IP');
    }

    // globals: the import server on the port named grpc, HTTP on the probe port
    for (const p of globals) {
      const c = loadServer(p);
      assert.equal(c.grpcAddress, '0.0.0.0:8128');
      assert.equal(containerPort(p.container, 'grpc')?.containerPort, listenPort(c.grpcAddress));
      for (const probe of [p.container.readinessProbe, p.container.livenessProbe]) {
        assert.equal(probe?.httpGet?.path, '/healthcheck');
        assert.equal(
          containerPort(p.container, probe.httpGet.port)?.containerPort,
          listenPort(c.httpAddress),
        );
      }
      // global counters are summed per interval: every tier must use the same one
      for (const l of locals)
        assert.equal(loadServer(l).intervalMs, c.intervalMs, 'local and global intervals');
      assert.ok((p.deployment.spec.replicas ?? 1) >= 2, 'two globals');
    }

    // proxy: listens where its Service and probes point; discovery finds the globals
    for (const p of proxies) {
      const cfg = loadProxy(p);
      assert.equal(containerPort(p.container, 'grpc')?.containerPort, listenPort(cfg.grpcAddress));
      assert.equal(containerPort(p.container, 'http')?.containerPort, listenPort(cfg.httpAddress));
      assert.equal(p.container.readinessProbe?.httpGet?.path, '/healthcheck');
      assert.ok(
        cfg.discovery === 'kubernetes' || cfg.forwardAddresses.length > 0,
        'veneur-proxy: no Kubernetes discovery and no forward_addresses (Consul cannot be checked here)',
      );
      if (cfg.discovery === 'kubernetes') {
        // the Role grants one namespace; '' (all namespaces) would need a ClusterRole
        assert.equal(cfg.kubernetes.namespace, p.deployment.metadata.namespace, 'kubernetes.namespace');
        const found = selectedDeployments(
          parseLabelSelector(cfg.kubernetes.labelSelector),
          cfg.kubernetes.namespace,
        );
        assert.deepEqual(
          found.map((d) => d.metadata.name),
          globals.map((g) => g.deployment.metadata.name),
          `kubernetes.label_selector ${cfg.kubernetes.labelSelector} must select exactly the globals`,
        );
        for (const g of found) {
          const c = g.spec.template.spec.containers.find((x) => containerPort(x, cfg.kubernetes.portName));
          assert.ok(c, `${g.metadata.name}: no container port named ${cfg.kubernetes.portName}`);
          assert.equal(programOf(c), 'veneur');
        }
        // ... listed with the proxy's ServiceAccount
        const sa = p.deployment.spec.template.spec.serviceAccountName;
        assert.ok(sa, 'discovery needs a ServiceAccount');
        const binding = ofKind<RoleBinding>('RoleBinding').find((b) =>
          b.subjects.some(
            (s) =>
              s.kind === 'ServiceAccount' && s.name === sa && s.namespace === p.deployment.metadata.namespace,
          ),
        );
        assert.ok(binding, `no RoleBinding for ServiceAccount ${sa}`);
        assert.equal(binding.metadata.namespace, cfg.kubernetes.namespace);
        assert.equal(binding.roleRef.kind, 'Role');
        assert.equal(binding.roleRef.apiGroup, 'rbac.authorization.k8s.io');
        const role = find<Role>('Role', binding.roleRef.name, binding.metadata.namespace);
        assert.ok(
          role.rules.some(
            (r) => r.apiGroups.includes('') && r.resources.includes('pods') && r.verbs.includes('list'),
          ),
          `Role ${role.metadata.name} must allow listing pods`,
        );
      }
      // a static address must be one global, not a Service in front of several
      for (const address of cfg.forwardAddresses) {
        const { service, backends } = resolveServiceAddress(address, 'TCP', p.deployment.metadata.namespace);
        const replicas = backends.reduce((n, b) => n + (b.deployment.spec.replicas ?? 1), 0);
        assert.equal(
          replicas,
          1,
          `forward_addresses ${address}: Service ${service.metadata.name} is ${replicas} globals behind one address`,
        );
      }
      if (cfg.statsd.address !== '') {
        const { backends } = resolveServiceAddress(
          cfg.statsd.address,
          'UDP',
          p.deployment.metadata.namespace,
        );
        for (const b of backends) assert.equal(programOf(b.container), 'veneur');
      }
    }
  });
});

describe('deploy/Dockerfile', () => {
  const dockerfile = readFileSync(DOCKERFILE, 'utf8');
  const lines = dockerfile.split('\n').filter((l) => !l.trimStart().startsWith('#'));
  const instr = (name: string) =>
    lines.filter((l) => l.toUpperCase().startsWith(`${name} `)).map((l) => l.slice(name.length + 1).trim());

  test('builds on node:20-bookworm-slim in both stages, runs as the non-root uid the pods use', () => {
    const froms = instr('FROM');
    assert.equal(froms.length, 2);
    for (const f of froms) assert.match(f, /^node:20-bookworm-slim\b/);
    const user = instr('USER').at(-1);
    assert.match(user ?? '', /^[1-9][0-9]*(:[0-9]+)?$/, 'USER must be numeric for runAsNonRoot');
    const uid = Number(user!.split(':')[0]);
    for (const d of deployments) assert.equal(d.spec.template.spec.securityContext?.runAsUser, uid);
    assert.match(dockerfile, /npm ci/);
    assert.match(dockerfile, /npm run build/);
    assert.match(dockerfile, /npm prune --omit=dev/);
  });

  test('EXPOSE covers every container port of the veneur containers', () => {
    const exposed = new Set(
      instr('EXPOSE')
        .flatMap((l) => l.split(/\s+/))
        .map((p) => (p.includes('/') ? p.toLowerCase() : `${p}/tcp`)),
    );
    for (const { container } of [...veneurs, ...proxies]) {
      for (const p of container.ports ?? []) {
        const key = `${p.containerPort}/${(p.protocol ?? 'TCP').toLowerCase()}`;
        assert.ok(exposed.has(key), `${container.name}: ${key} not in EXPOSE`);
      }
    }
  });

  test('commands run built binaries that exist and are made executable by npm run build', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    for (const { container } of containers) {
      const scripts = [...(container.command ?? []), ...(container.args ?? [])].join(' ');
      for (const m of scripts.matchAll(/\/app\/dist\/main\/([a-z-]+)\.js/g)) {
        const name = m[1]!;
        const src = path.join(ROOT, 'src/main', `${name}.ts`);
        assert.ok(existsSync(src), `${container.name}: ${m[0]} has no src/main/${name}.ts`);
        assert.ok(
          pkg.scripts.build?.includes(`dist/main/${name}.js`),
          `package.json "build" must chmod +x dist/main/${name}.js (the container runs it by its shebang)`,
        );
      }
    }
  });
});
