// Kept whole: it declares one resource, and the CRD's generator reads it as one schema.
// The LicenseServerPair API: zod schemas are the single source of truth. The CRD's OpenAPI schema
// (crds/) and the API reference (docs/api.md) are generated from them by src/api/generate-crds.ts.
//
// Conventions for the generator (see structural-schema.ts):
// - every property carries a description (`.describe()` last, after `.default()`/`.optional()`),
// - nested objects with defaults use `.prefault({})` so their inner defaults are applied on parse
//   and the CRD gets `default: {}` (the API server then defaults the inner fields too),
// - CEL rules are declared with `.meta({ 'x-kubernetes-validations': [...] })`,
// - pass-through Kubernetes objects are `z.record(z.string(), z.unknown())` marked with
//   `x-kubernetes-preserve-unknown-fields`.
import { z } from 'zod';

export const GROUP = 'lpo.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'LicenseServerPair';
export const LIST_KIND = 'LicenseServerPairList';
export const PLURAL = 'licenseserverpairs';
export const SINGULAR = 'licenseserverpair';
export const SHORT_NAMES = ['lsp'] as const;
export const CRD_NAME = `${PLURAL}.${GROUP}`;

/** Label on every child object: the owning pair's name. */
export const LABEL_PAIR = `${GROUP}/pair`;
/** Label on member pods and per-member Services: `primary` or `redundant`. */
export const LABEL_MEMBER = `${GROUP}/member`;
/** Label on member pods, managed by the reconciler: `live` or `standby`. */
export const LABEL_ROLE = `${GROUP}/role`;
/** Annotation on member pods: hash of the desired pod, to detect spec changes and roll one member at a time. */
export const ANNOTATION_SPEC_HASH = `${GROUP}/spec-hash`;
/**
 * Annotation a person sets (any new value) to ask for a switchover to `spec.preferredMember` now, e.g. a
 * manual failback. The operator records the handled value in `status.lastSwitchoverRequest`.
 */
export const ANNOTATION_SWITCHOVER_REQUEST = `${GROUP}/switchover-request`;
/**
 * Annotation a person sets to promote the member `status.servingAlone` marks as not promotable,
 * accepting the loss of what the other member acknowledged alone: `<member>@<servingAlone.since>`,
 * optionally followed by `#<request id>` (docs/reliability.md). The operator records the handled
 * value in `status.dataLossPromotion`: a value is carried out or refused once.
 */
export const ANNOTATION_PROMOTE_ACCEPTING_DATA_LOSS = `${GROUP}/promote-accepting-data-loss`;
/** The field manager the operator uses for server-side apply. */
export const FIELD_MANAGER = 'license-pair-operator';

export const MEMBERS = ['primary', 'redundant'] as const;
export const MemberSchema = z.enum(MEMBERS);
export type Member = z.infer<typeof MemberSchema>;
export const ROLE_LABEL_VALUES = ['live', 'standby'] as const;
export type RoleLabel = (typeof ROLE_LABEL_VALUES)[number];

/** The other member of the pair. */
export function otherMember(m: Member): Member {
  return m === 'primary' ? 'redundant' : 'primary';
}

export const MAX_PORT = 65535;
const portNumber = (description: string, def: number) =>
  z.int().min(1).max(MAX_PORT).default(def).describe(description);

/** A map of strings (labels, annotations, node selectors). */
const stringMap = (description: string) => z.record(z.string(), z.string()).optional().describe(description);

/** A resource quantity such as `500m`, `1`, `256Mi`. */
const QuantitySchema = z
  .union([z.int(), z.string().regex(/^[0-9.+\-eEKMGTPikmunm]+$/)])
  .meta({ 'x-kubernetes-int-or-string': true })
  .describe('A resource quantity (for example `500m`, `1`, `256Mi`).');

const preserveUnknown = (description: string) =>
  z
    .record(z.string(), z.unknown())
    .meta({ 'x-kubernetes-preserve-unknown-fields': true })
    .optional()
    .describe(description);

// ---------------------------------------------------------------------------------------------
// spec.server

export const EnvVarSchema = z.object({
  name: z.string().min(1).describe('Name of the environment variable.'),
  value: z.string().default('').describe('Value of the environment variable.'),
});

export const PortsSchema = z
  .object({
    licences: portNumber('Port of the licence (lease) API that clients use.', 7070),
    admin: portNumber(
      'Port of the admin API (`/healthz`, `/readyz`, `/v1/status`, promote/demote, replication).',
      7071,
    ),
    metrics: portNumber('Port of the Prometheus `/metrics` endpoint.', 9464),
  })
  .meta({
    'x-kubernetes-validations': [
      {
        // has() guards: the API server checks the rules against the schema default `{}` too.
        rule: '!has(self.licences) || !has(self.admin) || !has(self.metrics) || (self.licences != self.admin && self.licences != self.metrics && self.admin != self.metrics)',
        message: 'ports.licences, ports.admin and ports.metrics must be different',
      },
    ],
  });

export const ResourcesSchema = z.object({
  requests: z
    .record(z.string(), QuantitySchema)
    .optional()
    .describe('Minimum resources (for example `cpu: 100m`, `memory: 128Mi`).'),
  limits: z
    .record(z.string(), QuantitySchema)
    .optional()
    .describe('Maximum resources (for example `memory: 256Mi`).'),
});

export const LicenseSourceSchema = z.object({
  secretName: z
    .string()
    .min(1)
    .max(253)
    .describe(
      'Name of the Secret (in the pair’s namespace) that holds the signed licence file and the issuer’s public key.',
    ),
  fileKey: z.string().min(1).default('license.json').describe('Key of the licence file in the Secret.'),
  publicKeyKey: z
    .string()
    .min(1)
    .default('public-key.pem')
    .describe('Key of the issuer’s Ed25519 public key (PEM) in the Secret.'),
  expiryWarningDays: z
    .number()
    .int()
    .min(0)
    .max(365)
    .default(14)
    .describe(
      'Warn this many days before the first feature of the licence expires: the `LicenceValid` condition turns to reason `ExpiringSoon`, with an Event and the `lpo_pair_licence_*` metrics. 0 turns the warning off.',
    ),
});

export const StorageSchema = z.object({
  size: z
    .string()
    .regex(/^[0-9.]+(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/)
    .default('1Gi')
    .describe('Size of each member’s PersistentVolumeClaim for its journal.'),
  storageClassName: z
    .string()
    .optional()
    .describe('StorageClass of the claims; the cluster default when omitted.'),
});

export const PROTOCOLS = ['reference', 'none'] as const;

export const ServerSchema = z.object({
  image: z
    .string()
    .min(1)
    .default('license-pair-operator/license-server:0.1.0')
    .describe('Container image of the licence server.'),
  imagePullPolicy: z
    .enum(['Always', 'IfNotPresent', 'Never'])
    .default('IfNotPresent')
    .describe('Image pull policy of the licence-server container.'),
  args: z.array(z.string()).optional().describe('Arguments passed to the container (its command is kept).'),
  env: z
    .array(EnvVarSchema)
    .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] })
    .optional()
    .describe(
      'Extra environment variables. The operator sets the `LS_*` variables of the server contract; an entry here with the same name overrides it.',
    ),
  ports: PortsSchema.prefault({}).describe('Container ports of each member.'),
  resources: ResourcesSchema.optional().describe('Compute resources of the licence-server container.'),
  protocol: z
    .enum(PROTOCOLS)
    .default('reference')
    .describe(
      '`reference`: the image implements the licence-server contract (docs/server-contract.md); the operator reads `/v1/status` and promotes/demotes members with fencing epochs. `none`: any image; the operator only runs the health check and moves the Service.',
    ),
  license: LicenseSourceSchema.describe('Where the licence file comes from.'),
  storage: StorageSchema.optional().describe(
    'Persistent storage for each member’s state (one PersistentVolumeClaim per member). When omitted, state lives in an emptyDir and survives container restarts but not pod deletion.',
  ),
});

// ---------------------------------------------------------------------------------------------
// spec.placement

export const TolerationSchema = z.object({
  key: z.string().optional().describe('Taint key the toleration applies to; empty matches all keys.'),
  operator: z.enum(['Exists', 'Equal']).optional().describe('`Exists` or `Equal` (default `Equal`).'),
  value: z.string().optional().describe('Taint value the toleration matches (with operator `Equal`).'),
  effect: z
    .enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute'])
    .optional()
    .describe('Taint effect to match; empty matches all effects.'),
  tolerationSeconds: z
    .int()
    .optional()
    .describe('For `NoExecute`: how long the pod stays bound after the taint appears.'),
});

export const SPREAD_MODES = ['Preferred', 'Required', 'None'] as const;

export const PlacementSchema = z.object({
  nodeSelector: stringMap('Node labels both member pods must match.'),
  tolerations: z.array(TolerationSchema).optional().describe('Tolerations of both member pods.'),
  affinity: preserveUnknown(
    'Affinity of both member pods (a core/v1 Affinity, passed through). The operator adds its own anti-affinity term per `spreadMembers`.',
  ),
  spreadMembers: z
    .enum(SPREAD_MODES)
    .default('Preferred')
    .describe(
      'Keep the primary and the redundant member on different nodes: `Preferred` (scheduler tries), `Required` (pods stay Pending rather than share a node), `None`.',
    ),
});

// ---------------------------------------------------------------------------------------------
// spec.healthCheck

export const NAMED_PORTS = ['licences', 'admin', 'metrics'] as const;

export const HealthCheckSchema = z
  .object({
    type: z
      .enum(['HTTP', 'TCP'])
      .default('HTTP')
      .describe('`HTTP`: GET `path`, healthy on a 2xx answer. `TCP`: healthy when a connection opens.'),
    path: z
      .string()
      .regex(/^\//)
      .optional()
      .describe('HTTP path of the health check (type `HTTP` only). Defaults to `/healthz` for type `HTTP`.'),
    port: z
      .union([z.int(), z.string()])
      .meta({ 'x-kubernetes-int-or-string': true })
      .default('admin')
      .describe(
        'Port of the health check: a number, or a container port name (`licences`, `admin`, `metrics`).',
      ),
    periodSeconds: z
      .int()
      .min(1)
      .max(3600)
      .default(2)
      .describe('Seconds between two health checks of a member.'),
    timeoutSeconds: z.int().min(1).max(3600).default(1).describe('Seconds after which a health check fails.'),
    timeoutMilliseconds: z
      .int()
      .min(250)
      .max(3_600_000)
      .optional()
      .describe(
        'Milliseconds after which a health check fails, for a timeout under a second; replaces timeoutSeconds when set. Under 1000 ms it also shortens the standby’s promise to its active to the timeout (at least 400 ms), and with it how soon a hung or cut-off member is decided (docs/reliability.md).',
      ),
    failureThreshold: z
      .int()
      .min(1)
      .max(100)
      .default(3)
      .describe('Consecutive failed checks after which a member counts as failed.'),
    successThreshold: z
      .int()
      .min(1)
      .max(100)
      .default(2)
      .describe('Consecutive successful checks after which a member counts as healthy again.'),
  })
  .meta({
    'x-kubernetes-validations': [
      {
        rule: '!has(self.timeoutSeconds) || !has(self.periodSeconds) || self.timeoutSeconds <= self.periodSeconds',
        message: 'healthCheck.timeoutSeconds must not exceed healthCheck.periodSeconds',
      },
      {
        rule: '!has(self.timeoutMilliseconds) || !has(self.periodSeconds) || self.timeoutMilliseconds <= self.periodSeconds * 1000',
        message: 'healthCheck.timeoutMilliseconds must not exceed healthCheck.periodSeconds',
      },
      {
        rule: "self.type == 'HTTP' || !has(self.path)",
        message: 'healthCheck.path is only allowed with healthCheck.type HTTP',
      },
      {
        rule: "!has(self.port) || (type(self.port) == string ? self.port in ['licences', 'admin', 'metrics'] : (self.port >= 1 && self.port <= 65535))",
        message: 'healthCheck.port must be 1-65535 or one of licences, admin, metrics',
      },
    ],
  });

export const DEFAULT_HEALTH_PATH = '/healthz';

/** The health check's timeout in ms: timeoutMilliseconds when set, else timeoutSeconds. */
export function healthCheckTimeoutMs(hc: {
  timeoutSeconds: number;
  timeoutMilliseconds?: number | undefined;
}): number {
  return hc.timeoutMilliseconds ?? hc.timeoutSeconds * 1000;
}

// ---------------------------------------------------------------------------------------------
// spec.failover, spec.service

export const FailoverPolicySchema = z.object({
  enabled: z
    .boolean()
    .default(true)
    .describe(
      'Fail over automatically when the live member fails. When false the operator only reports (status, conditions, Events); planned switchovers still work.',
    ),
  delaySeconds: z
    .int()
    .min(0)
    .max(3600)
    .default(0)
    .describe(
      'How long the live member must have been failing (counted from the first failed check or the pod/node event) before the operator fails over.',
    ),
  failback: z
    .enum(['Automatic', 'Manual'])
    .default('Automatic')
    .describe(
      '`Automatic`: once the preferred member has been healthy and in sync for `failbackStableSeconds`, switch back to it gracefully. `Manual`: stay on the current member until a person requests a switchover.',
    ),
  failbackStableSeconds: z
    .int()
    .min(0)
    .max(86400)
    .default(30)
    .describe('How long the preferred member must be healthy (and in sync) before an automatic failback.'),
  minSecondsBetweenFailovers: z
    .int()
    .min(0)
    .max(86400)
    .default(10)
    .describe(
      'Minimum time between two automatic moves of the Service (failovers and failbacks): no flapping. It does not hold back a failover away from a live member whose pod was deleted or replaced (nothing to flap: waiting would only leave the pair without a server).',
    ),
});

export const ServiceSpecSchema = z.object({
  type: z
    .enum(['ClusterIP', 'NodePort', 'LoadBalancer'])
    .default('ClusterIP')
    .describe('Type of the client Service.'),
  port: z
    .int()
    .min(1)
    .max(MAX_PORT)
    .default(7070)
    .describe('Port of the client Service (to the licences port).'),
  annotations: stringMap('Annotations of the client Service (for example for a load balancer).'),
});

export const LabelSelectorSchema = z.object({
  matchLabels: stringMap('Labels that must all match.'),
  matchExpressions: z
    .array(
      z.object({
        key: z.string().min(1).describe('Label key.'),
        operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']).describe('How the values are matched.'),
        values: z.array(z.string()).optional().describe('Values for `In` and `NotIn`.'),
      }),
    )
    .optional()
    .describe('Label expressions that must all match.'),
});

/** A core/v1 NetworkPolicyPeer, checked here so a typo cannot widen the policy. */
export const NetworkPolicyPeerSchema = z
  .object({
    podSelector: LabelSelectorSchema.optional().describe(
      'Pods (in the pair’s namespace, or in the namespaces of `namespaceSelector`).',
    ),
    namespaceSelector: LabelSelectorSchema.optional().describe(
      'Namespaces (all their pods, or those of `podSelector`).',
    ),
    ipBlock: z
      .object({
        cidr: z.string().min(1).describe('Source range, for example `10.0.0.0/8`.'),
        except: z.array(z.string()).optional().describe('Ranges inside `cidr` that are not admitted.'),
      })
      .optional()
      .describe('A source IP range (for clients outside the cluster).'),
  })
  .meta({
    'x-kubernetes-validations': [
      {
        rule: 'has(self.podSelector) || has(self.namespaceSelector) || has(self.ipBlock)',
        message: 'a peer needs podSelector, namespaceSelector or ipBlock',
      },
      {
        rule: '!has(self.ipBlock) || (!has(self.podSelector) && !has(self.namespaceSelector))',
        message: 'ipBlock cannot be combined with podSelector or namespaceSelector',
      },
    ],
  })
  .describe(
    'A NetworkPolicyPeer: `podSelector`, `namespaceSelector` (both: those pods in those namespaces) or `ipBlock`.',
  );

export const NetworkPolicySpecSchema = z.object({
  enabled: z
    .boolean()
    .default(true)
    .describe(
      'Create a NetworkPolicy for the member pods: the licence port only from `clients`, the admin (and replication) port only from the other member and the operator, the metrics port only from `metricsFrom`. Enforced only where the cluster’s network plugin implements NetworkPolicy.',
    ),
  clients: z
    .array(NetworkPolicyPeerSchema)
    .optional()
    .describe('Who may reach the licence port. Omitted or empty: any source.'),
  metricsFrom: z
    .array(NetworkPolicyPeerSchema)
    .optional()
    .describe(
      'Who may scrape the metrics port (for example the Prometheus pods). Omitted or empty: any source.',
    ),
});

export const TLS_MODES = ['Operator', 'Provided', 'Disabled'] as const;
export type TlsMode = (typeof TLS_MODES)[number];

const secretName = (description: string) =>
  z
    .string()
    .min(1)
    .max(253)
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/)
    .describe(description);

/** The members' own certificate Secrets (`spec.tls.mode: Provided`), for example written by cert-manager. */
export const TlsSecretNamesSchema = z
  .object({
    primary: secretName(
      'Secret (in the pair’s namespace, type `kubernetes.io/tls`) with the primary member’s certificate (`tls.crt`, the certificate first, then any intermediate CAs), its key (`tls.key`) and the CA that issued it (`ca.crt`): what a cert-manager `Certificate` with this `spec.secretName` writes. The certificate must hold the URI SAN `spiffe://license-pair-operator/ns/<namespace>/pair/<name>/member/primary` and the DNS names of the member Service `<name>-primary` and the client Service `<name>` (each as `svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.<cluster domain>`), and allow `server auth` and `client auth`.',
    ),
    redundant: secretName(
      'Secret with the redundant member’s certificate, key and CA, as for `primary` (identity `…/member/redundant`, member Service `<name>-redundant`). Must differ from `primary`.',
    ),
  })
  .meta({
    'x-kubernetes-validations': [
      {
        rule: 'self.primary != self.redundant',
        message:
          'spec.tls.secretNames.primary and .redundant must name two different Secrets (each member has its own certificate and identity)',
      },
    ],
  })
  .describe(
    'The Secrets holding each member’s certificate, for `mode: Provided`. The operator reads them (at most every 30 s, and when the pair changes) and checks them; it never writes them.',
  );

export const TlsSpecSchema = z
  .object({
    mode: z
      .enum(TLS_MODES)
      .default('Operator')
      .describe(
        '`Operator` (default): the operator issues each member a certificate from its installation CA, renews it at two thirds of its lifetime and mounts it; the licence and admin ports serve TLS, admin and replication calls need mutual TLS with the caller’s identity checked, and the CA bundle for clients is published in the ConfigMap `<pair>-ca` (key `ca.crt`). `Provided`: the same, with certificates you provide (for example from cert-manager) in the Secrets `secretNames` names; the operator checks them, issues nothing for the members and publishes their `ca.crt` in `<pair>-ca` (condition `CertificatesReady`, reason `Provided` or what is wrong). `Disabled`: every port is plaintext (condition `CertificatesReady=False`, reason `PlaintextOptOut`). Applies to the `reference` protocol; with `none` the server’s own TLS is its business.',
      ),
    secretNames: TlsSecretNamesSchema.optional().describe(
      'With `mode: Provided` (and only then): the Secret of each member’s certificate, `{primary: <name>, redundant: <name>}`.',
    ),
  })
  .meta({
    'x-kubernetes-validations': [
      {
        rule: "!has(self.mode) || self.mode != 'Provided' || has(self.secretNames)",
        message:
          'spec.tls.mode Provided needs spec.tls.secretNames.primary and .redundant: the kubernetes.io/tls Secrets (for example written by cert-manager) of the members’ certificates',
      },
      {
        rule: "!has(self.secretNames) || (has(self.mode) && self.mode == 'Provided')",
        message:
          'spec.tls.secretNames is only for spec.tls.mode Provided: remove it, or set the mode to Provided',
      },
    ],
  })
  .describe('Transport security between clients, members and the operator.');

export const PairSpecSchema = z
  .object({
    server: ServerSchema.describe('The licence-server container that both members run.'),
    placement: PlacementSchema.prefault({}).describe('Where the member pods run.'),
    healthCheck: HealthCheckSchema.prefault({}).describe(
      'The health check the operator runs against each member.',
    ),
    failover: FailoverPolicySchema.prefault({}).describe('When and how the operator moves the Service.'),
    service: ServiceSpecSchema.prefault({}).describe(
      'The client Service, which always points at the live member.',
    ),
    networkPolicy: NetworkPolicySpecSchema.prefault({}).describe(
      'The NetworkPolicy the operator creates for the member pods.',
    ),
    tls: TlsSpecSchema.prefault({}).describe('Transport security between clients, members and the operator.'),
    preferredMember: MemberSchema.default('primary').describe(
      'The member that serves when both are healthy; failback returns to it. Changing it is a planned switchover: `kubectl patch lsp NAME --type merge -p \'{"spec":{"preferredMember":"redundant"}}\'`.',
    ),
  })
  .describe(
    'Desired state of the pair: the server both members run, placement, health check, failover policy, Service.',
  );

// ---------------------------------------------------------------------------------------------
// status

export const CONDITION_STATUSES = ['True', 'False', 'Unknown'] as const;

export const ConditionSchema = z.object({
  type: z
    .string()
    .min(1)
    .max(316)
    .describe(
      'Type of the condition: `Ready`, `Degraded`, `StandbyReady`, `ServingAlone`, `LicenceValid` or `CertificatesReady`.',
    ),
  status: z.enum(CONDITION_STATUSES).describe('Status of the condition: True, False or Unknown.'),
  reason: z
    .string()
    .min(1)
    .max(1024)
    .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/)
    .describe('Machine-readable CamelCase reason for the last transition.'),
  message: z.string().max(32768).default('').describe('Human-readable details of the last transition.'),
  lastTransitionTime: z.iso.datetime().describe('When the condition last changed status.'),
  observedGeneration: z
    .int()
    .min(0)
    .optional()
    .describe('The `.metadata.generation` the condition was set for.'),
});

export const HEALTH_VALUES = ['Healthy', 'Unhealthy', 'Unknown'] as const;
export const MEMBER_ROLES = ['active', 'standby', 'unknown'] as const;
export const REPLICATION_STATES = ['in-sync', 'catching-up', 'disconnected', 'none', 'unknown'] as const;
export const PROBE_RESULTS = ['Success', 'Failure', 'Unknown'] as const;

export const ReplicationStatusSchema = z.object({
  state: z
    .enum(REPLICATION_STATES)
    .describe('Replication state the member reports: in-sync, catching-up, disconnected, none (or unknown).'),
  lagEntries: z.int().min(0).optional().describe('Journal entries the standby is behind.'),
  lagSeconds: z.number().min(0).optional().describe('Seconds the standby is behind.'),
});

export const MemberStatusSchema = z.object({
  podName: z.string().optional().describe('Name of the member’s pod.'),
  nodeName: z.string().optional().describe('Node the member’s pod runs on.'),
  podIP: z.string().optional().describe('IP address of the member’s pod.'),
  ready: z.boolean().optional().describe('Whether the pod’s Ready condition is True.'),
  healthy: z.boolean().optional().describe('Whether the member passes the operator’s health check.'),
  health: z
    .enum(HEALTH_VALUES)
    .optional()
    .describe('`Healthy`, `Unhealthy` or `Unknown` (shown by `kubectl get lsp`).'),
  healthReason: z
    .string()
    .optional()
    .describe('Why the member is not healthy (for example ProbeFailed, NodeNotReady).'),
  role: z.enum(MEMBER_ROLES).optional().describe('Role the server reports (`active`/`standby`), or unknown.'),
  epoch: z.int().min(0).optional().describe('Fencing epoch the server reports.'),
  lastProbeTime: z.iso
    .datetime()
    .optional()
    .describe(
      'Since when the health checks have had `lastProbeResult`: the time it last changed, not of every check (the checks run every `healthCheck.periodSeconds`; `lpo_member_last_probe_timestamp_seconds` has the last one).',
    ),
  lastProbeResult: z.enum(PROBE_RESULTS).optional().describe('Result of the last health check.'),
  lastProbeMessage: z
    .string()
    .optional()
    .describe('Details of the last health check (error message on failure).'),
  consecutiveFailures: z.int().min(0).optional().describe('Failed health checks in a row.'),
  replication: ReplicationStatusSchema.optional().describe('Replication state the server reports.'),
  certificateExpires: z.iso
    .datetime()
    .optional()
    .describe(
      'When the member’s TLS certificate expires: with `spec.tls.mode: Operator` the operator renews it at two thirds of its lifetime; with `Provided` it is the certificate in the member’s Secret, which its issuer (cert-manager) renews.',
    ),
});

export const PHASES = ['Pending', 'Running', 'Degraded', 'FailedOver', 'Unavailable'] as const;
export const PhaseSchema = z.enum(PHASES);
export type Phase = z.infer<typeof PhaseSchema>;

export const LastFailoverSchema = z.object({
  time: z.iso.datetime().describe('When the Service was moved.'),
  from: z.enum(['primary', 'redundant', '']).describe('Member that was live before (empty: none).'),
  to: z.enum(['primary', 'redundant', '']).describe('Member that is live after (empty: none).'),
  action: z
    .string()
    .optional()
    .describe(
      'failover, failback, switchover, serve-first-recovered, fence-only or promote-accepting-data-loss.',
    ),
  reason: z.string().describe('Why (for example ProbeFailed, PodDeleted, NodeNotReady, FailbackStable).'),
  detectionSeconds: z
    .number()
    .min(0)
    .optional()
    .describe('Seconds from the first sign of failure to the decision to move.'),
});

export const ServingAloneSchema = z.object({
  member: MemberSchema.describe("The member that may serve alone under the operator's grants."),
  epoch: z.int().min(0).describe('The epoch it serves alone in.'),
  since: z.iso.datetime().describe('Since when it serves alone.'),
});

export const DataLossPromotionSchema = z.object({
  request: z
    .string()
    .describe(
      'The `lpo.dev/promote-accepting-data-loss` value handled: a later write of the same value is inert.',
    ),
  outcome: z
    .enum(['Promoted', 'Refused'])
    .describe('Promoted: the member was promoted; Refused: the request did not fit the pair (see reason).'),
  reason: z
    .string()
    .describe(
      'DataLossAccepted, or why it was refused: Malformed, NoEpisode, StaleEpisode, WrongMember, PairServed, ServedAloneMemberBack.',
    ),
  message: z.string().describe('What was done or why not, in words.'),
  time: z.iso.datetime().describe('When the operator handled the request.'),
  member: MemberSchema.optional().describe('(Promoted) the member promoted.'),
  epoch: z.int().min(0).optional().describe('(Promoted) the epoch it was promoted with.'),
  servedAlone: z
    .object({
      member: MemberSchema.describe('The member that served alone: what it acknowledged alone is lost.'),
      epoch: z.int().min(0).describe('The epoch it served alone in.'),
      since: z.iso.datetime().describe('Since when it served alone.'),
    })
    .optional()
    .describe('(Promoted) the episode given up: what `member` acknowledged alone from `since` on is lost.'),
});

export const PairStatusSchema = z
  .object({
    liveMember: z
      .enum(['primary', 'redundant', ''])
      .optional()
      .describe('The member the client Service points at; empty when none.'),
    preferredMember: MemberSchema.optional().describe(
      'The `spec.preferredMember` the operator has acted on; a different spec value is a pending planned switchover.',
    ),
    lastSwitchoverRequest: z
      .string()
      .optional()
      .describe('The last value of the `lpo.dev/switchover-request` annotation the operator handled.'),
    phase: PhaseSchema.optional().describe('Pending, Running, Degraded, FailedOver or Unavailable.'),
    epoch: z
      .int()
      .min(0)
      .optional()
      .describe(
        'Fencing epoch of the current live member; grows with every promotion (see the server contract).',
      ),
    members: z
      .object({
        primary: MemberStatusSchema.optional().describe('State of the primary member.'),
        redundant: MemberStatusSchema.optional().describe('State of the redundant member.'),
      })
      .optional()
      .describe('Observed state of each member.'),
    lastFailover: LastFailoverSchema.optional().describe(
      'The last time the Service was moved between members.',
    ),
    failoverCount: z
      .int()
      .min(0)
      .optional()
      .describe('How often the Service was moved (failovers, failbacks, switchovers).'),
    liveSince: z.iso.datetime().optional().describe('Since when the current live member serves.'),
    servingAlone: ServingAloneSchema.optional().describe(
      'Set while the live member serves without its standby (down, partitioned, resyncing): the other member is not promoted until it has resynced and every grant to serve alone has expired (docs/reliability.md).',
    ),
    dataLossPromotion: DataLossPromotionSchema.optional().describe(
      'The last `lpo.dev/promote-accepting-data-loss` request the operator handled: promoted (and what was lost) or refused (docs/reliability.md).',
    ),
    observedGeneration: z
      .int()
      .min(0)
      .optional()
      .describe('The `.metadata.generation` this status describes.'),
    conditions: z
      .array(ConditionSchema)
      .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] })
      .optional()
      .describe(
        'Conditions `Ready`, `Degraded`, `StandbyReady`, `ServingAlone`, `LicenceValid` (metav1.Condition).',
      ),
  })
  .describe('Observed state of the pair, written by the operator.');

// ---------------------------------------------------------------------------------------------
// the resource

export const ObjectMetaSchema = z
  .object({
    name: z.string(),
    namespace: z.string().default('default'),
    uid: z.string().optional(),
    generation: z.int().optional(),
    resourceVersion: z.string().optional(),
    creationTimestamp: z.string().optional(),
    deletionTimestamp: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  })
  .loose();

export const LicenseServerPairSchema = z.object({
  apiVersion: z.literal(API_VERSION).default(API_VERSION),
  kind: z.literal(KIND).default(KIND),
  metadata: ObjectMetaSchema,
  spec: PairSpecSchema,
  status: PairStatusSchema.optional(),
});

export type EnvVar = z.infer<typeof EnvVarSchema>;
export type ServerSpec = z.infer<typeof ServerSchema>;
export type PlacementSpec = z.infer<typeof PlacementSchema>;
export type HealthCheckSpec = z.infer<typeof HealthCheckSchema>;
export type FailoverPolicy = z.infer<typeof FailoverPolicySchema>;
export type ServiceSpec = z.infer<typeof ServiceSpecSchema>;
export type NetworkPolicySpec = z.infer<typeof NetworkPolicySpecSchema>;
export type NetworkPolicyPeer = z.infer<typeof NetworkPolicyPeerSchema>;
export type PairSpec = z.infer<typeof PairSpecSchema>;
export type PairSpecInput = z.input<typeof PairSpecSchema>;
export type Condition = z.infer<typeof ConditionSchema>;
export type ConditionStatus = (typeof CONDITION_STATUSES)[number];
export type MemberStatus = z.infer<typeof MemberStatusSchema>;
export type LastFailover = z.infer<typeof LastFailoverSchema>;
export type DataLossPromotion = z.infer<typeof DataLossPromotionSchema>;
export type PairStatus = z.infer<typeof PairStatusSchema>;
export type LicenseServerPair = z.infer<typeof LicenseServerPairSchema>;
export type LicenseServerPairInput = z.input<typeof LicenseServerPairSchema>;
export type Health = (typeof HEALTH_VALUES)[number];
export type Protocol = (typeof PROTOCOLS)[number];
