// Generates the LicenseServerPair CustomResourceDefinition (apiextensions.k8s.io/v1) and the API
// reference from the zod schemas in pair.ts. The OpenAPI schema must be *structural*
// (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema):
// every node has a type (or x-kubernetes-int-or-string / x-kubernetes-preserve-unknown-fields),
// no $ref, no additionalProperties:false, no type/description/default inside anyOf.
import { z } from 'zod';
import { stringify } from 'yaml';
import {
  CRD_NAME,
  GROUP,
  KIND,
  LIST_KIND,
  PairSpecSchema,
  PairStatusSchema,
  PLURAL,
  SHORT_NAMES,
  SINGULAR,
  VERSION,
} from './pair.ts';

export type JsonSchema = { [key: string]: unknown };

const SAFE_MAX = Number.MAX_SAFE_INTEGER;
const SAFE_MIN = Number.MIN_SAFE_INTEGER;

function isObject(v: unknown): v is JsonSchema {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function resolveRef(ref: string, root: JsonSchema): JsonSchema {
  const prefix = '#/$defs/';
  if (!ref.startsWith(prefix)) throw new Error(`unsupported $ref ${ref}`);
  const defs = root['$defs'];
  const target = isObject(defs) ? defs[ref.slice(prefix.length)] : undefined;
  if (!isObject(target)) throw new Error(`unresolved $ref ${ref}`);
  return target;
}

/** Turn one node of zod's JSON Schema (draft 2020-12) into a structural OpenAPI v3 schema node. */
export function toStructural(node: JsonSchema, root: JsonSchema = node, depth = 0): JsonSchema {
  if (depth > 64) throw new Error('schema too deep (recursive schemas are not supported by CRDs)');
  let n: JsonSchema = { ...node };
  if (typeof n['$ref'] === 'string') {
    const { $ref, ...rest } = n;
    n = { ...resolveRef($ref as string, root), ...rest };
  }
  const out: JsonSchema = {};
  // Stable key order for readable YAML: description first, then type, then the rest.
  if (typeof n['description'] === 'string') out['description'] = n['description'];

  if (n['x-kubernetes-int-or-string'] === true) {
    out['x-kubernetes-int-or-string'] = true;
    out['anyOf'] = [{ type: 'integer' }, { type: 'string' }];
    if (n['default'] !== undefined) out['default'] = n['default'];
    copyExtensions(n, out);
    return out;
  }

  if (Array.isArray(n['anyOf']) || Array.isArray(n['oneOf']) || Array.isArray(n['allOf'])) {
    throw new Error(
      `anyOf/oneOf/allOf are not structural; mark int-or-string or restructure: ${JSON.stringify(n)}`,
    );
  }
  if (n['type'] === undefined && n['x-kubernetes-preserve-unknown-fields'] !== true) {
    throw new Error(`schema node without type: ${JSON.stringify(n)}`);
  }
  if (n['type'] !== undefined) out['type'] = n['type'];
  for (const key of [
    'format',
    'enum',
    'default',
    'pattern',
    'minLength',
    'maxLength',
    'minItems',
    'maxItems',
  ]) {
    if (n[key] !== undefined) out[key] = n[key];
  }
  if (n['format'] === 'date-time') delete out['pattern']; // zod adds a regex; the API server checks the format
  if (typeof n['minimum'] === 'number' && n['minimum'] !== SAFE_MIN) out['minimum'] = n['minimum'];
  if (typeof n['maximum'] === 'number' && n['maximum'] !== SAFE_MAX) out['maximum'] = n['maximum'];
  if (n['const'] !== undefined) out['enum'] = [n['const']];

  if (n['type'] === 'object') {
    const props = n['properties'];
    if (isObject(props)) {
      const p: JsonSchema = {};
      for (const [k, v] of Object.entries(props)) p[k] = toStructural(v as JsonSchema, root, depth + 1);
      out['properties'] = p;
      if (Array.isArray(n['required']) && n['required'].length > 0) out['required'] = n['required'];
    }
    const ap = n['additionalProperties'];
    if (isObject(ap) && !isObject(props)) {
      if (Object.keys(ap).length === 0) out['x-kubernetes-preserve-unknown-fields'] = true;
      else out['additionalProperties'] = toStructural(ap, root, depth + 1);
    }
  }
  if (n['type'] === 'array' && isObject(n['items'])) {
    out['items'] = toStructural(n['items'], root, depth + 1);
  }
  copyExtensions(n, out);
  return out;
}

function copyExtensions(from: JsonSchema, to: JsonSchema): void {
  for (const [k, v] of Object.entries(from)) {
    if (k.startsWith('x-kubernetes-') && k !== 'x-kubernetes-int-or-string') to[k] = v;
  }
}

function schemaOf(s: z.ZodType): JsonSchema {
  // io 'input': fields with defaults are optional (the API server fills them in).
  return toStructural(z.toJSONSchema(s, { io: 'input', unrepresentable: 'throw' }) as JsonSchema);
}

export function specSchema(): JsonSchema {
  return schemaOf(PairSpecSchema);
}

export function statusSchema(): JsonSchema {
  return schemaOf(PairStatusSchema);
}

export function openApiSchema(): JsonSchema {
  return {
    description:
      'A LicenseServerPair keeps a licence service available: a primary and a redundant licence server behind one Service that the operator points at the live member.',
    type: 'object',
    required: ['spec'],
    'x-kubernetes-validations': [
      {
        rule: 'size(self.metadata.name) <= 53',
        message:
          'the name of a LicenseServerPair must be at most 53 characters (its Services are named <name>-redundant)',
      },
    ],
    properties: {
      apiVersion: {
        description: 'APIVersion defines the versioned schema of this representation of an object.',
        type: 'string',
      },
      kind: {
        description: 'Kind is a string value representing the REST resource this object represents.',
        type: 'string',
      },
      metadata: { type: 'object' },
      spec: specSchema(),
      status: statusSchema(),
    },
  };
}

export const PRINTER_COLUMNS = [
  {
    name: 'Live',
    type: 'string',
    jsonPath: '.status.liveMember',
    description: 'The member the Service points at.',
  },
  {
    name: 'Primary',
    type: 'string',
    jsonPath: '.status.members.primary.health',
    description: 'Health of the primary member.',
  },
  {
    name: 'Redundant',
    type: 'string',
    jsonPath: '.status.members.redundant.health',
    description: 'Health of the redundant member.',
  },
  { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Phase of the pair.' },
  {
    name: 'Failovers',
    type: 'integer',
    jsonPath: '.status.failoverCount',
    description: 'How often the Service was moved.',
  },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  {
    name: 'Reason',
    type: 'string',
    jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
    description: 'Why the pair serves, or why it cannot (the Ready condition’s reason).',
  },
] as const;

export function crd(): JsonSchema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: CRD_NAME,
      labels: {
        'app.kubernetes.io/name': 'license-pair-operator',
        'app.kubernetes.io/part-of': 'license-pair-operator',
      },
    },
    spec: {
      group: GROUP,
      names: {
        kind: KIND,
        listKind: LIST_KIND,
        plural: PLURAL,
        singular: SINGULAR,
        shortNames: [...SHORT_NAMES],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: PRINTER_COLUMNS.map((c) => ({ ...c })),
          schema: { openAPIV3Schema: openApiSchema() },
        },
      ],
    },
  };
}

export const CRD_HEADER =
  '# Generated by `node src/api/generate-crds.ts` from src/api/pair.ts. Do not edit by hand.\n';

export function crdYaml(): string {
  return CRD_HEADER + stringify(crd(), { lineWidth: 0 });
}

// ---------------------------------------------------------------------------------------------
// API reference (docs/api.md)

type Row = {
  path: string;
  type: string;
  def: string;
  required: boolean;
  description: string;
  rules: string[];
};

function typeLabel(s: JsonSchema): string {
  if (s['x-kubernetes-int-or-string'] === true) return 'int or string';
  if (s['x-kubernetes-preserve-unknown-fields'] === true && s['type'] === 'object')
    return 'object (free-form)';
  if (Array.isArray(s['enum']))
    return (s['enum'] as unknown[]).map((e) => `\`${JSON.stringify(e)}\``).join(' | ');
  if (s['type'] === 'array') {
    const items = s['items'];
    return `[]${isObject(items) ? typeLabel(items) : 'unknown'}`;
  }
  if (s['type'] === 'object' && isObject(s['additionalProperties'])) {
    return `map[string]${typeLabel(s['additionalProperties'])}`;
  }
  const t = String(s['type']);
  const bounds: string[] = [];
  if (typeof s['minimum'] === 'number') bounds.push(`≥ ${s['minimum']}`);
  if (typeof s['maximum'] === 'number') bounds.push(`≤ ${s['maximum']}`);
  if (s['format'] === 'date-time') return 'string (date-time)';
  return bounds.length > 0 ? `${t} (${bounds.join(', ')})` : t;
}

function rows(s: JsonSchema, path: string, required: boolean, out: Row[]): void {
  const rules = Array.isArray(s['x-kubernetes-validations'])
    ? (s['x-kubernetes-validations'] as { rule: string; message?: string }[]).map(
        (v) => `\`${v.rule}\`${v.message ? ` — ${v.message}` : ''}`,
      )
    : [];
  out.push({
    path,
    type: typeLabel(s),
    def: s['default'] === undefined ? '' : `\`${JSON.stringify(s['default'])}\``,
    required,
    description: typeof s['description'] === 'string' ? s['description'] : '',
    rules,
  });
  const req = Array.isArray(s['required']) ? (s['required'] as string[]) : [];
  if (isObject(s['properties'])) {
    for (const [k, v] of Object.entries(s['properties']))
      rows(v as JsonSchema, `${path}.${k}`, req.includes(k), out);
  }
  const items = s['items'];
  if (s['type'] === 'array' && isObject(items) && isObject(items['properties'])) {
    const itemReq = Array.isArray(items['required']) ? (items['required'] as string[]) : [];
    for (const [k, v] of Object.entries(items['properties'])) {
      rows(v as JsonSchema, `${path}[].${k}`, itemReq.includes(k), out);
    }
  }
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function table(schema: JsonSchema, root: string): string {
  const r: Row[] = [];
  rows(schema, root, true, r);
  const lines = ['| field | type | default | description |', '| --- | --- | --- | --- |'];
  for (const row of r) {
    const desc = [row.required && row.path !== root ? '**Required.** ' : '', row.description];
    for (const rule of row.rules) desc.push(`<br>Rule: ${rule}`);
    lines.push(`| \`${row.path}\` | ${cell(row.type)} | ${row.def} | ${cell(desc.join(''))} |`);
  }
  return lines.join('\n');
}

export function apiDocs(): string {
  const cols = PRINTER_COLUMNS.map((c) => `| ${c.name} | \`${c.jsonPath}\` |`).join('\n');
  return `<!-- Generated by \`node src/api/generate-crds.ts --docs\` from src/api/pair.ts. Do not edit by hand. -->

# LicenseServerPair API reference

\`${GROUP}/${VERSION}\`, kind \`${KIND}\`, plural \`${PLURAL}\`, short name \`${SHORT_NAMES.join(', ')}\`, namespaced,
with a \`status\` subresource. The CRD is \`crds/${GROUP}_${PLURAL}.yaml\`; \`kubectl explain lsp.spec\` shows the
same descriptions.

A minimal pair (every other field has a default):

\`\`\`yaml
apiVersion: ${GROUP}/${VERSION}
kind: ${KIND}
metadata:
  name: eda-tools
  namespace: licensing
spec:
  server:
    license:
      secretName: eda-tools-license
\`\`\`

The members also mount a Secret \`<pair>-admin-token\` with key \`token\`: the bearer token of the admin and
replication API of the reference server. The operator creates it with a random token when it does not
exist; replace its value to rotate the token (the server re-reads the file).

## How the operator decides

The decision is a pure function (\`src/operator/failover.ts\`), evaluated on every reconcile:

- A member **fails** on a pod or node signal (pod deleted or missing, container terminated or
  crash-looping, pod phase Failed, node NotReady or unreachable; for the live member also its pod
  turning NotReady) at once, without waiting for health checks, or after
  \`healthCheck.failureThreshold\` failed checks. With the reference protocol, the live member
  also fails after a **single** failed check when the standby confirms it: its status says it has
  not heard from the active over replication for a second (heartbeats come every 250 ms), in a
  report read after the failed check (reason \`PeerLost\`). The standby tells the operator when
  the silence starts (half a second: a status read the operator holds open), and the operator
  then checks the live member at once, with the rest of the check's timeout, rather than at its
  next period ([reliability.md](reliability.md#detection-two-observers-a-period-sooner)). Two
  observers, the operator and the standby, agree; a blip of the operator's own path to the
  member is not enough.
  It is **healthy** again after \`healthCheck.successThreshold\` successful checks in a row.
- When the live member fails, the operator waits \`failover.delaySeconds\` (counted from the first sign
  of failure) and \`failover.minSecondsBetweenFailovers\` since the last move, fences the failed member
  (out of the Service, demoted when reachable) and promotes the standby with a new epoch: only a
  healthy standby that is not known to be behind (\`catching-up\`).
- When no standby can take over, the failed member is fenced and **no** member serves (phase
  \`Unavailable\`); the first member to recover is served. A member marked not promotable
  (\`status.servingAlone\`: the other one served alone) is promoted only on a person's request that
  accepts the loss of what was served alone
  ([reliability.md](reliability.md#promoting-a-member-that-is-not-promotable-accepting-data-loss)).
- A member that comes back after a failover is a standby. With \`failover.failback: Automatic\` the
  operator switches back to \`spec.preferredMember\` once it has been healthy and in sync for
  \`failover.failbackStableSeconds\`; with \`Manual\` it waits for a switchover request.
- The operator never moves the Service away from a live member that has not failed, except for a
  failback or a planned switchover. With \`failover.enabled: false\` it only reports.
- \`status.liveMember\` and \`status.epoch\` are the source of truth: a restarted or newly elected operator
  carries on without a flip.

## Operations with plain kubectl

\`\`\`sh
# which member is live, both members' health, phase, failovers
kubectl get lsp -n licensing

# planned switchover (for example before maintenance of the primary's node):
# make the redundant member the preferred one; the operator switches over as soon as it is
# healthy and in sync, fencing (demoting) the primary first
kubectl patch lsp eda-tools -n licensing --type merge -p '{"spec":{"preferredMember":"redundant"}}'

# switch back afterwards
kubectl patch lsp eda-tools -n licensing --type merge -p '{"spec":{"preferredMember":"primary"}}'

# with failback: Manual, return to the preferred member after a failover (any new value works)
kubectl annotate lsp eda-tools -n licensing --overwrite lpo.dev/switchover-request="$(date +%s)"

# wait for the switchover
kubectl wait lsp/eda-tools -n licensing --for=jsonpath='{.status.liveMember}'=redundant --timeout=60s

# the primary served alone and its node is gone for good: promote the redundant member, losing
# what the primary acknowledged alone (prefer \`lspctl pair promote eda-tools --accept-data-loss\`,
# which prints what is lost and asks first); the value names the member and the episode
kubectl annotate lsp eda-tools -n licensing --overwrite lpo.dev/promote-accepting-data-loss="redundant@$(
  kubectl get lsp eda-tools -n licensing -o jsonpath='{.status.servingAlone.since}')#$(date +%s)"
\`\`\`

A switchover (planned, or an automatic failback) is graceful: the live member is taken out of the
Service and demoted with a new fencing epoch before the other member is promoted and the Service
points at it. It only happens when the target member is healthy and in sync; until then
\`status.preferredMember\` keeps the old value and the switchover stays pending.

A planned removal of the live member's pod (a drain, an eviction, a rollout, \`kubectl delete
pod\`) is handed over the same way (reason \`LiveMemberLeaving\`), also with
\`failover.enabled: false\`: member pods sleep 5 s in \`preStop\` before their container gets
SIGTERM, and the operator demotes the leaving member and promotes the standby meanwhile. A
leaving standby makes the operator grant the live member to serve alone at once
(\`status.servingAlone\`), before the standby stops acknowledging. A deleting pod that no longer
answers is failed over (\`PodDeleted\`) ([reliability.md](reliability.md#planned-removal-of-a-member)).

## Printer columns

| column | JSONPath |
| --- | --- |
${cols}

## Conditions

| type | True when |
| --- | --- |
| \`Ready\` | the live member serves licences through the client Service: it has not failed and its pod is Ready (an endpoint of the Service) |
| \`Degraded\` | the pair has lost redundancy: a member is unhealthy or not in sync, or the pair runs on the non-preferred member |
| \`StandbyReady\` | the standby is healthy and in sync: a failover could happen now |
| \`ServingAlone\` | the live member serves without its standby, under the operator's grants ([reliability.md](reliability.md#serving-rights-never-two-members-granting)) |
| \`LicenceValid\` | a member has a licence in force; reason \`ExpiringSoon\` (still True) when a feature expires within \`spec.server.license.expiryWarningDays\`, \`UpdateRefused\` (still True) when a newer file in the Secret was refused and the previous licence stays in force |
| \`CertificatesReady\` | the members have certificates the operator issued and keeps renewed (\`spec.tls.mode: Operator\`; reason \`Issued\`, with the earliest expiry), or provided ones that passed its checks (\`Provided\`; reason \`Provided\`, or \`RenewalOverdue\`, still True, in a certificate's last sixth); False with \`IssueFailed\` (the error), a defect of a provided Secret (\`SecretMissing\`, \`SecretInvalid\`, \`Expired\`, \`NotYetValid\`, \`ChainUntrusted\`, \`IdentityMissing\`, \`NamesMissing\`, \`UsageMissing\`, \`CheckFailed\`) or \`PlaintextOptOut\` (\`spec.tls.mode: Disabled\`) ([tls.md](tls.md)) |

### Why a pair cannot serve

When \`Ready\` is False its reason names the cause and its message the fix; the same reason is
the \`REASON\` column of \`kubectl get lsp\`, the \`reason\` label of \`lpo_pair_ready\`, and a
Warning Event on the pair when the cause first appears. A member's own cause is its
\`status.members.<m>.healthReason\` (and \`StandbyReady\`'s reason when it is the standby).
Runbooks: [LicensePairNotServing](runbooks/LicensePairNotServing.md).

| reason | cause | seen from |
| --- | --- | --- |
| \`LicenceSecretMissing\` | \`spec.server.license.secretName\` names no Secret in the pair's namespace | the Secret, read while a member pod still waits to start 5 s after its creation |
| \`LicenceKeyMissing\` | the Secret lacks \`fileKey\` or \`publicKeyKey\` | same |
| \`LicenceInvalid\` | the members refused the file (not a licence, issued to another pair, not yet valid, bad key) | the member's \`/v1/status\` (\`license.code\`) |
| \`LicenceSignatureInvalid\` | the file is not signed by the public key in the Secret | same |
| \`LicenceExpired\` | every feature of the licence has expired | same |
| \`ImagePullFailed\` | \`spec.server.image\` cannot be pulled | the container's waiting reason (ErrImagePull, ImagePullBackOff, InvalidImageName, ErrImageNeverPull) |
| \`Unschedulable\` | no node fits a member pod | the pod's \`PodScheduled\` condition (with the scheduler's message) |
| \`CrashLooping\` | the licence-server container keeps crashing | CrashLoopBackOff, with the last exit and the last log line |
| \`ContainerConfigInvalid\` | the container cannot be created | CreateContainerConfigError, CreateContainerError, RunContainerError |
| \`LiveMemberNotReady\` | the live member runs but its pod is not Ready: the Service has no endpoint | the pod's Ready condition |
| \`WaitingForMembers\`, \`BothDown\`, \`StandbyNotPromotable\` | no member is healthy yet / any more, or only the member that may not be promoted is | the decision |
| a member failure (\`ProbeFailed\`, \`PeerLost\`, \`PodDeleted\`, \`PodMissing\`, \`PodPending\`, \`PodNotReady\`, \`ContainerTerminated\`, \`NodeNotReady\`) | the live member failed and no standby can take over | the decision |
| \`InvalidSpec\` | the pair's spec does not parse | the operator's own validation |

### Events

| reason | type | when |
| --- | --- | --- |
| \`Promoted\`, \`FailedOver\`, \`FailedBack\`, \`SwitchedOver\`, \`Recovered\`, \`Fenced\`, \`Repromoted\` | Normal / Warning | the live member changes (one Event per move) |
| \`PromotedWithDataLoss\` | Warning | the member not promotable was promoted on a \`lpo.dev/promote-accepting-data-loss\` request: the message names the episode whose changes are lost and the request |
| \`DataLossPromotionPending\`, \`DataLossPromotionRefused\` | Warning | such a request waits (a grant to the member that served alone may still be valid, the member to promote is not healthy: once per cause) / does not fit the pair and is refused for good (wrong member, stale episode, a member live…; \`status.dataLossPromotion\` says why) |
| \`PhaseDegraded\`, \`PhaseUnavailable\`, \`PhaseRunning\`, \`PhaseFailedOver\` | Warning / Normal | the phase changes without a move |
| \`ServingAlone\`, \`Resynced\` | Warning / Normal | the live member starts serving alone / its standby has resynced |
| \`CertificateIssued\` | Normal | the operator issued a member a certificate (first, renewal, new CA), with why |
| each reason of the table above, \`ExpiringSoon\`, \`UpdateRefused\`, \`IssueFailed\`, \`PlaintextOptOut\` | Warning | the cause first appears on a condition (not again while it lasts; a repeat within ten minutes counts in the same Event) |
| \`PromoteFailed\`, \`InvalidSpec\` | Warning | a promotion was refused / the spec is invalid |

## Spec

${table(specSchema(), 'spec')}

## Status

${table(statusSchema(), 'status')}
`;
}
