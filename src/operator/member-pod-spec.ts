import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { ANNOTATION_SPEC_HASH, type LicenseServerPair, type Member } from '../api/pair.ts';
import { childMetadata, memberLabels } from './child-metadata.ts';
import { childNames } from './child-names.ts';
import { memberAffinity } from './member-affinity.ts';
import { memberEnv } from './member-env.ts';
import { livenessProbe, readinessProbe } from './member-probes.ts';
import { memberVolumeMounts, memberVolumes } from './member-volumes.ts';
import { LABEL_TLS, servesTls } from './serves-tls.ts';
import { specHash } from './spec-hash.ts';

export const CONTAINER_NAME = 'license-server';
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

/** The desired pod of one member, with the spec-hash annotation. */
export function desiredPod(pair: LicenseServerPair, member: Member): V1Pod {
  const s = pair.spec.server;
  const placement = pair.spec.placement;
  const names = childNames(pair.metadata.name);
  const res = resources(pair);
  const aff = memberAffinity(pair, member);
  const container: V1Container = {
    name: CONTAINER_NAME,
    image: s.image,
    imagePullPolicy: s.imagePullPolicy,
    ...(s.args && s.args.length > 0 ? { args: [...s.args] } : {}),
    env: memberEnv(pair, member),
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
    volumeMounts: memberVolumeMounts(pair),
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
  const pod: V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...childMetadata(pair, names.pod[member], {
        ...memberLabels(pair, member),
        ...(servesTls(pair) ? { [LABEL_TLS]: 'true' } : {}),
      }),
      annotations: {},
    },
    spec: {
      containers: [container],
      volumes: memberVolumes(pair, member),
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
