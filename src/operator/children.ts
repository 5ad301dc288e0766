// Desired child objects of a LicenseServerPair. Pure: plain objects typed with @kubernetes/client-node's
// model types, no I/O. The reconciler applies them (server-side apply, field manager FIELD_MANAGER) and
// manages the role label (LABEL_ROLE) and the client Service's selector on its own schedule.
import { createHash } from 'node:crypto';
import type {
  V1Affinity,
  V1Container,
  V1EnvVar,
  V1IPBlock,
  V1OwnerReference,
  V1PersistentVolumeClaim,
  V1Pod,
  V1PodAffinityTerm,
  V1PodDisruptionBudget,
  V1NetworkPolicy,
  V1NetworkPolicyIngressRule,
  V1NetworkPolicyPeer,
  V1Probe,
  V1Secret,
  V1Service,
  V1Volume,
} from '@kubernetes/client-node';
import {
  ANNOTATION_SPEC_HASH,
  API_VERSION,
  KIND,
  LABEL_MEMBER,
  LABEL_PAIR,
  type LicenseServerPair,
  type Member,
  type NetworkPolicyPeer,
} from '../api/pair.ts';

export const CONTAINER_NAME = 'license-server';
/** The member label value the client Service selects when no member is live: matches no pod. */
export const NO_MEMBER = 'none';
export const ADMIN_TOKEN_KEY = 'token';
export const MOUNT_LICENSE = '/etc/license-server/license';
export const MOUNT_ADMIN = '/etc/license-server/admin';
export const MOUNT_TLS = '/etc/license-server/tls';
/**
 * On a member pod that serves TLS: the operator calls each member the way its pod was made, so a
 * pair whose pods predate TLS (an operator upgrade) or a rollout between modes is not taken for
 * failed because its members answer plaintext.
 */
export const LABEL_TLS = 'lpo.dev/tls';

/** Whether this member pod was made to serve TLS (LABEL_TLS). */
export function podServesTls(pod: { metadata?: { labels?: Record<string, string> } } | undefined): boolean {
  return pod?.metadata?.labels?.[LABEL_TLS] === 'true';
}
export const STATE_DIR = '/var/lib/license-server';
/**
 * A member pod being deleted (a drain, an eviction, a rollout) keeps running this long before its
 * container gets SIGTERM (a preStop sleep, run by the kubelet: the image has no shell). The
 * operator hands a leaving live member over meanwhile (well under a second: demote, promote,
 * Service) and grants the other member to serve alone before a leaving standby stops
 * acknowledging, so a planned removal refuses no client. The server's own shutdown after SIGTERM
 * takes at most 5 s (main.ts), so both fit in TERMINATION_GRACE_SECONDS.
 */
export const PRESTOP_SLEEP_SECONDS = 5;
export const TERMINATION_GRACE_SECONDS = 15;
export const RUN_AS_USER = 65532;
const MEMBERS: readonly Member[] = ['primary', 'redundant'];

type Live = Member | '';

export interface ChildNames {
  pod: Record<Member, string>;
  memberService: Record<Member, string>;
  clientService: string;
  pdb: string;
  networkPolicy: string;
  adminTokenSecret: string;
  pvc: Record<Member, string>;
  /** each member's certificate, key and CA bundle (kubernetes.io/tls) */
  tlsSecret: Record<Member, string>;
  /** the CA bundle for clients (`ca.crt`) */
  caConfigMap: string;
  /** with `spec.tls.mode: Provided`: the CAs the members trust (`ca.crt`), see tls/provided-trust.ts */
  trustConfigMap: string;
}

export function childNames(pairName: string): ChildNames {
  return {
    pod: { primary: `${pairName}-primary`, redundant: `${pairName}-redundant` },
    memberService: { primary: `${pairName}-primary`, redundant: `${pairName}-redundant` },
    clientService: pairName,
    pdb: pairName,
    networkPolicy: pairName,
    adminTokenSecret: `${pairName}-admin-token`,
    pvc: { primary: `${pairName}-primary-state`, redundant: `${pairName}-redundant-state` },
    tlsSecret: { primary: `${pairName}-primary-tls`, redundant: `${pairName}-redundant-tls` },
    caConfigMap: `${pairName}-ca`,
    trustConfigMap: `${pairName}-member-trust`,
  };
}

function other(m: Member): Member {
  return m === 'primary' ? 'redundant' : 'primary';
}

/** The controller owner reference to the pair (every child carries it). */
export function ownerReference(pair: LicenseServerPair): V1OwnerReference {
  if (!pair.metadata.uid)
    throw new Error(`pair ${pair.metadata.name} has no uid (read it from the API server)`);
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: pair.metadata.name,
    uid: pair.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Labels shared by all children of a pair. */
export function pairLabels(pair: LicenseServerPair): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'license-server',
    'app.kubernetes.io/instance': pair.metadata.name,
    'app.kubernetes.io/managed-by': 'license-pair-operator',
    [LABEL_PAIR]: pair.metadata.name,
  };
}

export function memberLabels(pair: LicenseServerPair, member: Member): Record<string, string> {
  return { ...pairLabels(pair), 'app.kubernetes.io/component': member, [LABEL_MEMBER]: member };
}

function meta(pair: LicenseServerPair, name: string, labels: Record<string, string>) {
  return { name, namespace: pair.metadata.namespace, labels, ownerReferences: [ownerReference(pair)] };
}

/**
 * Whether the members serve TLS, with certificates the operator issues (`Operator`) or that the
 * user provides (`Provided`): the licence and admin ports (the metrics port stays plaintext), for
 * the reference server only (another server's TLS is its own business).
 */
export function servesTls(pair: LicenseServerPair): boolean {
  return pair.spec.tls.mode !== 'Disabled' && pair.spec.server.protocol === 'reference';
}

/** Whether the members' certificates come from Secrets the user names (`spec.tls.mode: Provided`). */
export function usesProvidedCertificates(pair: LicenseServerPair): boolean {
  return servesTls(pair) && pair.spec.tls.mode === 'Provided';
}

function scheme(pair: LicenseServerPair): 'http' | 'https' {
  return servesTls(pair) ? 'https' : 'http';
}

/** The peer's admin endpoint, through its per-member Service. */
export function memberAdminUrl(pair: LicenseServerPair, member: Member): string {
  const { namespace } = pair.metadata;
  return `${scheme(pair)}://${childNames(pair.metadata.name).memberService[member]}.${namespace}.svc:${pair.spec.server.ports.admin}`;
}

/** The member's licence endpoint, through its per-member Service. */
export function memberLicencesUrl(pair: LicenseServerPair, member: Member): string {
  const { namespace } = pair.metadata;
  return `${scheme(pair)}://${childNames(pair.metadata.name).memberService[member]}.${namespace}.svc:${pair.spec.server.ports.licences}`;
}

function contractEnv(pair: LicenseServerPair, member: Member): V1EnvVar[] {
  const ports = pair.spec.server.ports;
  return [
    { name: 'LS_PAIR_ID', value: `${pair.metadata.namespace}/${pair.metadata.name}` },
    { name: 'LS_MEMBER', value: member },
    { name: 'LS_PEER_URL', value: memberAdminUrl(pair, other(member)) },
    // Where clients that reach the wrong member are sent (a NOT_ACTIVE answer names the active's).
    { name: 'LS_ADVERTISE_URL', value: memberLicencesUrl(pair, member) },
    { name: 'LS_LICENSE_FILE', value: `${MOUNT_LICENSE}/license.json` },
    { name: 'LS_PUBLIC_KEY_FILE', value: `${MOUNT_LICENSE}/public-key.pem` },
    { name: 'LS_ADMIN_TOKEN_FILE', value: `${MOUNT_ADMIN}/${ADMIN_TOKEN_KEY}` },
    { name: 'LS_STATE_DIR', value: STATE_DIR },
    { name: 'LS_PORT', value: String(ports.licences) },
    { name: 'LS_ADMIN_PORT', value: String(ports.admin) },
    { name: 'LS_METRICS_PORT', value: String(ports.metrics) },
    ...(servesTls(pair)
      ? [
          { name: 'LS_TLS_CERT_FILE', value: `${MOUNT_TLS}/tls.crt` },
          { name: 'LS_TLS_KEY_FILE', value: `${MOUNT_TLS}/tls.key` },
          { name: 'LS_TLS_CA_FILE', value: `${MOUNT_TLS}/ca.crt` },
        ]
      : []),
  ];
}

/** Contract variables first, then the user's; a user entry with the same name replaces the contract's. */
function mergedEnv(pair: LicenseServerPair, member: Member): V1EnvVar[] {
  const user = pair.spec.server.env ?? [];
  const base = contractEnv(pair, member).map((e) => {
    const u = user.find((x) => x.name === e.name);
    return u ? { name: u.name, value: u.value } : e;
  });
  const baseNames = new Set(base.map((e) => e.name));
  const extra = user.filter((e) => !baseNames.has(e.name)).map((e) => ({ name: e.name, value: e.value }));
  return [...base, ...extra];
}

/** HTTPS on the ports that serve TLS; the kubelet does not verify the certificate (and needs none). */
export function portScheme(pair: LicenseServerPair, port: string | number): 'HTTP' | 'HTTPS' {
  const ports = pair.spec.server.ports;
  const tlsPort = port === 'licences' || port === 'admin' || port === ports.licences || port === ports.admin;
  return servesTls(pair) && tlsPort ? 'HTTPS' : 'HTTP';
}

function healthProbe(pair: LicenseServerPair): V1Probe {
  const hc = pair.spec.healthCheck;
  return hc.type === 'HTTP'
    ? { httpGet: { path: hc.path ?? '/healthz', port: hc.port, scheme: portScheme(pair, hc.port) } }
    : { tcpSocket: { port: hc.port } };
}

function readinessProbe(pair: LicenseServerPair): V1Probe {
  const hc = pair.spec.healthCheck;
  const action: V1Probe =
    pair.spec.server.protocol === 'reference'
      ? { httpGet: { path: '/readyz', port: 'admin', scheme: portScheme(pair, 'admin') } }
      : healthProbe(pair);
  return {
    ...action,
    periodSeconds: hc.periodSeconds,
    timeoutSeconds: hc.timeoutSeconds,
    failureThreshold: hc.failureThreshold,
    successThreshold: 1,
  };
}

/** A slow liveness probe that only restarts a member that hangs for a long time (failover is the operator's job). */
function livenessProbe(pair: LicenseServerPair): V1Probe {
  const hc = pair.spec.healthCheck;
  return {
    ...healthProbe(pair),
    initialDelaySeconds: 10,
    periodSeconds: Math.max(10, hc.periodSeconds),
    timeoutSeconds: Math.max(hc.timeoutSeconds, 5),
    failureThreshold: 6,
    successThreshold: 1,
  };
}

function resources(pair: LicenseServerPair): V1Container['resources'] | undefined {
  const r = pair.spec.server.resources;
  if (!r) return undefined;
  const str = (m: Record<string, string | number> | undefined) =>
    m === undefined ? undefined : Object.fromEntries(Object.entries(m).map(([k, v]) => [k, String(v)]));
  const out: { requests?: Record<string, string>; limits?: Record<string, string> } = {};
  const req = str(r.requests);
  const lim = str(r.limits);
  if (req) out.requests = req;
  if (lim) out.limits = lim;
  return out;
}

function antiAffinityTerm(pair: LicenseServerPair, member: Member): V1PodAffinityTerm {
  return {
    labelSelector: { matchLabels: { [LABEL_PAIR]: pair.metadata.name, [LABEL_MEMBER]: other(member) } },
    topologyKey: 'kubernetes.io/hostname',
  };
}

type AffinityObject = {
  podAntiAffinity?: {
    requiredDuringSchedulingIgnoredDuringExecution?: unknown[];
    preferredDuringSchedulingIgnoredDuringExecution?: unknown[];
    [k: string]: unknown;
  };
  [k: string]: unknown;
};

/** The user's affinity plus the operator's anti-affinity term between the members. */
function affinity(pair: LicenseServerPair, member: Member): V1Affinity | undefined {
  const user = structuredClone((pair.spec.placement.affinity ?? {}) as AffinityObject);
  const mode = pair.spec.placement.spreadMembers;
  if (mode !== 'None') {
    const anti = { ...(user.podAntiAffinity ?? {}) };
    const term = antiAffinityTerm(pair, member);
    if (mode === 'Required') {
      anti.requiredDuringSchedulingIgnoredDuringExecution = [
        ...(anti.requiredDuringSchedulingIgnoredDuringExecution ?? []),
        term,
      ];
    } else {
      anti.preferredDuringSchedulingIgnoredDuringExecution = [
        ...(anti.preferredDuringSchedulingIgnoredDuringExecution ?? []),
        { weight: 100, podAffinityTerm: term },
      ];
    }
    user.podAntiAffinity = anti;
  }
  return Object.keys(user).length > 0 ? (user as V1Affinity) : undefined;
}

function volumes(pair: LicenseServerPair, member: Member): V1Volume[] {
  const s = pair.spec.server;
  const names = childNames(pair.metadata.name);
  return [
    {
      name: 'license',
      secret: {
        secretName: s.license.secretName,
        items: [
          { key: s.license.fileKey, path: 'license.json' },
          { key: s.license.publicKeyKey, path: 'public-key.pem' },
        ],
        defaultMode: 0o440,
      },
    },
    {
      name: 'admin-token',
      secret: {
        secretName: names.adminTokenSecret,
        items: [{ key: ADMIN_TOKEN_KEY, path: ADMIN_TOKEN_KEY }],
        defaultMode: 0o440,
        optional: s.protocol === 'none',
      },
    },
    ...(servesTls(pair) ? [tlsVolume(pair, member)] : []),
    s.storage
      ? { name: 'state', persistentVolumeClaim: { claimName: names.pvc[member] } }
      : { name: 'state', emptyDir: {} },
    { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } },
  ];
}

/**
 * The member's certificate, key and CA bundle at MOUNT_TLS. Operator mode: its Secret, which holds
 * all three. Provided mode: the certificate and key from the user's Secret and the CA bundle from
 * the trust ConfigMap the operator keeps (the user's CAs and the installation CA, whose operator
 * certificate the member must admit), in one projected volume: the kubelet refreshes both sources
 * in place, so a renewal by cert-manager reaches the member without a restart.
 */
function tlsVolume(pair: LicenseServerPair, member: Member): V1Volume {
  const names = childNames(pair.metadata.name);
  const provided = pair.spec.tls.secretNames;
  if (pair.spec.tls.mode === 'Provided' && provided)
    return {
      name: 'tls',
      projected: {
        sources: [
          {
            secret: {
              name: provided[member],
              items: ['tls.crt', 'tls.key'].map((k) => ({ key: k, path: k })),
            },
          },
          { configMap: { name: names.trustConfigMap, items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        ],
        defaultMode: 0o440,
      },
    };
  return {
    name: 'tls',
    secret: {
      secretName: names.tlsSecret[member],
      items: ['tls.crt', 'tls.key', 'ca.crt'].map((k) => ({ key: k, path: k })),
      defaultMode: 0o440,
    },
  };
}

/** The desired pod of one member, with the spec-hash annotation. */
export function desiredPod(pair: LicenseServerPair, member: Member): V1Pod {
  const s = pair.spec.server;
  const placement = pair.spec.placement;
  const names = childNames(pair.metadata.name);
  const res = resources(pair);
  const aff = affinity(pair, member);
  const container: V1Container = {
    name: CONTAINER_NAME,
    image: s.image,
    imagePullPolicy: s.imagePullPolicy,
    ...(s.args && s.args.length > 0 ? { args: [...s.args] } : {}),
    env: mergedEnv(pair, member),
    ports: [
      { name: 'licences', containerPort: s.ports.licences, protocol: 'TCP' },
      { name: 'admin', containerPort: s.ports.admin, protocol: 'TCP' },
      { name: 'metrics', containerPort: s.ports.metrics, protocol: 'TCP' },
    ],
    ...(res ? { resources: res } : {}),
    readinessProbe: readinessProbe(pair),
    livenessProbe: livenessProbe(pair),
    lifecycle: { preStop: { sleep: { seconds: PRESTOP_SLEEP_SECONDS } } },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: RUN_AS_USER,
      runAsGroup: RUN_AS_USER,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [
      { name: 'license', mountPath: MOUNT_LICENSE, readOnly: true },
      { name: 'admin-token', mountPath: MOUNT_ADMIN, readOnly: true },
      ...(servesTls(pair) ? [{ name: 'tls', mountPath: MOUNT_TLS, readOnly: true }] : []),
      { name: 'state', mountPath: STATE_DIR },
      { name: 'tmp', mountPath: '/tmp' },
    ],
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
  const pod: V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...meta(pair, names.pod[member], {
        ...memberLabels(pair, member),
        ...(servesTls(pair) ? { [LABEL_TLS]: 'true' } : {}),
      }),
      annotations: {},
    },
    spec: {
      containers: [container],
      volumes: volumes(pair, member),
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
      enableServiceLinks: false,
      automountServiceAccountToken: false,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: RUN_AS_USER,
        runAsGroup: RUN_AS_USER,
        fsGroup: RUN_AS_USER,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      ...(placement.nodeSelector ? { nodeSelector: { ...placement.nodeSelector } } : {}),
      ...(placement.tolerations ? { tolerations: placement.tolerations.map((t) => ({ ...t })) } : {}),
      ...(aff ? { affinity: aff } : {}),
    },
  };
  pod.metadata!.annotations = { [ANNOTATION_SPEC_HASH]: specHash(pod) };
  return pod;
}

/** Stable JSON: keys sorted, so the hash does not depend on property order. */
export function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stableStringify(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * Hash of what the pod should be (spec and labels, without the hash annotation itself and without the
 * role label). The reconciler compares it with the annotation on the running pod; on a mismatch it
 * replaces that member's pod (standby first, never both at once).
 */
export function specHash(pod: V1Pod): string {
  const labels = { ...(pod.metadata?.labels ?? {}) };
  const content = { labels, spec: pod.spec };
  return createHash('sha256').update(stableStringify(content)).digest('hex').slice(0, 16);
}

/**
 * The client Service: selects the live member, or no pod at all (empty endpoints) when none is live.
 * The operator's selector is the only switch: the endpoint is published whatever the pod's
 * readiness says. A standby reports NotReady while it has lost its active, and the kubelet would
 * only mark it Ready again at its next readiness probe after the promotion, so traffic would wait
 * a probe period behind the selector; and a live member taken out by its own probe a moment before
 * the operator moves the selector would cost kube-proxy two changes instead of one. A selected
 * member that cannot serve answers with the reason (or NOT_ACTIVE and a redirect), which a client
 * can act on, where an empty endpoint list only refuses the connection.
 */
export function desiredClientService(pair: LicenseServerPair, live: Live): V1Service {
  const svc = pair.spec.service;
  const names = childNames(pair.metadata.name);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      ...meta(pair, names.clientService, pairLabels(pair)),
      ...(svc.annotations ? { annotations: { ...svc.annotations } } : {}),
    },
    spec: {
      type: svc.type,
      selector: clientSelector(pair, live),
      ports: [{ name: 'licences', port: svc.port, targetPort: 'licences', protocol: 'TCP' }],
      publishNotReadyAddresses: true,
      sessionAffinity: 'None',
    },
  };
}

/** The client Service's selector for a live member ('' → a selector that matches no pod). */
export function clientSelector(pair: LicenseServerPair, live: Live): Record<string, string> {
  return { [LABEL_PAIR]: pair.metadata.name, [LABEL_MEMBER]: live === '' ? NO_MEMBER : live };
}

/** The live member a client Service selects, from its selector ('' when none). */
export function liveFromSelector(selector: Record<string, string> | undefined): Live {
  const m = selector?.[LABEL_MEMBER];
  return m === 'primary' || m === 'redundant' ? m : '';
}

/**
 * Per-member Service for peer (replication) and redirected client traffic: a stable name for the
 * member's pod, listing it while not ready too. Headless: the name resolves to the pod's address,
 * so no cluster IP is allocated and kube-proxy programs nothing for it (two of a pair's three
 * Services would otherwise cost an IP allocation and proxy rules each, for traffic that goes to
 * one pod anyway).
 */
export function desiredMemberService(pair: LicenseServerPair, member: Member): V1Service {
  const ports = pair.spec.server.ports;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(pair, childNames(pair.metadata.name).memberService[member], memberLabels(pair, member)),
    spec: {
      type: 'ClusterIP',
      clusterIP: 'None',
      selector: { [LABEL_PAIR]: pair.metadata.name, [LABEL_MEMBER]: member },
      publishNotReadyAddresses: true,
      ports: [
        { name: 'admin', port: ports.admin, targetPort: 'admin', protocol: 'TCP' },
        { name: 'licences', port: ports.licences, targetPort: 'licences', protocol: 'TCP' },
        { name: 'metrics', port: ports.metrics, targetPort: 'metrics', protocol: 'TCP' },
      ],
    },
  };
}

/**
 * At most one member voluntarily disrupted (drained, evicted) at a time. minAvailable, not
 * maxUnavailable: for maxUnavailable the disruption controller needs the pods' controller to have
 * a scale subresource (a LicenseServerPair has none); without it the budget's status is never
 * computed, it allows no eviction at all, and every node drain waits for ever.
 */
export function desiredPdb(pair: LicenseServerPair): V1PodDisruptionBudget {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: meta(pair, childNames(pair.metadata.name).pdb, pairLabels(pair)),
    spec: {
      minAvailable: 1,
      selector: { matchLabels: { [LABEL_PAIR]: pair.metadata.name } },
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    },
  };
}

/** How the operator's own pods are found: their namespace and labels (the chart passes them). */
export interface OperatorPeer {
  namespace: string;
  podLabels: Record<string, string>;
}

/**
 * Typed with the client library's models on purpose: its serializer keeps only their field names
 * (`_from` for `from`), and an excess property check catches a wrong one here.
 */
function toPeer(p: NetworkPolicyPeer): V1NetworkPolicyPeer {
  const selector = (sel: NonNullable<NetworkPolicyPeer['podSelector']>) => structuredClone(sel);
  const ipBlock = (b: NonNullable<NetworkPolicyPeer['ipBlock']>): V1IPBlock =>
    b.except ? { cidr: b.cidr, except: [...b.except] } : { cidr: b.cidr };
  return {
    ...(p.podSelector ? { podSelector: selector(p.podSelector) } : {}),
    ...(p.namespaceSelector ? { namespaceSelector: selector(p.namespaceSelector) } : {}),
    ...(p.ipBlock ? { ipBlock: ipBlock(p.ipBlock) } : {}),
  };
}

/**
 * Ingress of the member pods: the licence port from the pair's clients, the admin port (status,
 * promote/demote, replication) from the other member and the operator only, the metrics port from
 * the scrapers. The operator may reach every port: its health check can target any of them.
 * Without `operator` (an operator outside the cluster) no rule admits it; such a setup turns the
 * policy off. Undefined when the pair opts out.
 */
export function desiredNetworkPolicy(
  pair: LicenseServerPair,
  operator: OperatorPeer | undefined,
): V1NetworkPolicy | undefined {
  const np = pair.spec.networkPolicy;
  if (!np.enabled) return undefined;
  const peers = (list: NetworkPolicyPeer[] | undefined) =>
    list && list.length > 0 ? { _from: list.map(toPeer) } : {};
  const members = { podSelector: { matchLabels: { [LABEL_PAIR]: pair.metadata.name } } };
  const ingress: V1NetworkPolicyIngressRule[] = [
    { ...peers(np.clients), ports: [{ port: 'licences', protocol: 'TCP' }] },
    { _from: [members], ports: [{ port: 'admin', protocol: 'TCP' }] },
    { ...peers(np.metricsFrom), ports: [{ port: 'metrics', protocol: 'TCP' }] },
  ];
  if (operator)
    ingress.push({
      _from: [
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': operator.namespace } },
          podSelector: { matchLabels: { ...operator.podLabels } },
        },
      ],
    });
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: meta(pair, childNames(pair.metadata.name).networkPolicy, pairLabels(pair)),
    spec: { podSelector: { ...members.podSelector }, policyTypes: ['Ingress'], ingress },
  };
}

/** The member's state claim when spec.server.storage is set. */
export function desiredPvc(pair: LicenseServerPair, member: Member): V1PersistentVolumeClaim | undefined {
  const st = pair.spec.server.storage;
  if (!st) return undefined;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: meta(pair, childNames(pair.metadata.name).pvc[member], memberLabels(pair, member)),
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: st.size } },
      ...(st.storageClassName !== undefined ? { storageClassName: st.storageClassName } : {}),
    },
  };
}

/**
 * The admin-token Secret, to create only when it does not exist (never overwrite: that would rotate
 * the token). The token comes from the caller (randomness is I/O).
 */
export function desiredAdminTokenSecret(pair: LicenseServerPair, token: string): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: meta(pair, childNames(pair.metadata.name).adminTokenSecret, pairLabels(pair)),
    type: 'Opaque',
    stringData: { [ADMIN_TOKEN_KEY]: token },
  };
}

export interface DesiredChildren {
  pods: Record<Member, V1Pod>;
  memberServices: Record<Member, V1Service>;
  clientService: V1Service;
  pdb: V1PodDisruptionBudget;
  /** Present when spec.server.storage is set. */
  pvcs?: Record<Member, V1PersistentVolumeClaim>;
}

/** Everything the pair should own, with the client Service pointing at `live`. */
export function desiredChildren(pair: LicenseServerPair, live: Live): DesiredChildren {
  const byMember = <T>(f: (m: Member) => T): Record<Member, T> =>
    Object.fromEntries(MEMBERS.map((m) => [m, f(m)])) as Record<Member, T>;
  const out: DesiredChildren = {
    pods: byMember((m) => desiredPod(pair, m)),
    memberServices: byMember((m) => desiredMemberService(pair, m)),
    clientService: desiredClientService(pair, live),
    pdb: desiredPdb(pair),
  };
  if (pair.spec.server.storage) out.pvcs = byMember((m) => desiredPvc(pair, m)!);
  return out;
}
