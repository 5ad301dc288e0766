// Why a member or a pair cannot serve licences, in words that name the cause and the fix: the
// reasons of the Ready, StandbyReady and LicenceValid conditions (docs/api.md, "Reasons"). Pure:
// from the observation of a pod, the licence a member reports and the licence Secret.
import type { ConditionSpec } from './conditions.ts';
import { CONDITION_LICENCE_VALID } from './conditions.ts';
import type { Member } from '../api/pair.ts';
import type { LicenceReport, LicenceSecretCheck, LicenceSource, PodObservation } from './observation.ts';

export const CAUSE_REASONS = [
  'LicenceSecretMissing',
  'LicenceKeyMissing',
  'LicenceInvalid',
  'LicenceSignatureInvalid',
  'LicenceExpired',
  'ImagePullFailed',
  'Unschedulable',
  'CrashLooping',
  'ContainerConfigInvalid',
] as const;
export type CauseReason = (typeof CAUSE_REASONS)[number];

export interface Cause {
  reason: CauseReason;
  message: string;
}

export function isCause(reason: string): reason is CauseReason {
  return (CAUSE_REASONS as readonly string[]).includes(reason);
}

const IMAGE_PULL = ['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull'];
const CONTAINER_CONFIG = ['CreateContainerConfigError', 'CreateContainerError', 'RunContainerError'];
/** Kubelet and scheduler messages can be long (a node list); a condition message stays readable. */
const DETAIL_CHARS = 300;

const clip = (s: string, n = DETAIL_CHARS) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

function detail(reason: string, message: string | undefined): string {
  return message ? `${reason}: ${clip(message)}` : reason;
}

/** The cause a member's pod shows, if any; `secret` is consulted while the pod waits to start. */
export function podCause(
  pod: PodObservation,
  secret: LicenceSecretCheck | undefined,
  src: LicenceSource | undefined,
): Cause | undefined {
  const w = pod.waiting;
  if (pod.unschedulable !== undefined)
    return {
      reason: 'Unschedulable',
      message: `the pod cannot be scheduled (${clip(pod.unschedulable)}); change spec.server.resources or spec.placement, or add a node that fits`,
    };
  if (w && IMAGE_PULL.includes(w.reason))
    return {
      reason: 'ImagePullFailed',
      message: `the image ${pod.image ?? '(unknown)'} cannot be pulled (${detail(w.reason, w.message)}); set spec.server.image to an image the nodes can pull, and the operator replaces the pods`,
    };
  if (w?.reason === 'CrashLoopBackOff') return { reason: 'CrashLooping', message: crashMessage(pod) };
  if (w && CONTAINER_CONFIG.includes(w.reason))
    return {
      reason: 'ContainerConfigInvalid',
      message: `the container cannot be created (${detail(w.reason, w.message)}); check spec.server.env, spec.server.args and the Secrets they name`,
    };
  const waitsToStart = pod.phase === 'Pending' && (w === undefined || w.reason === 'ContainerCreating');
  if (waitsToStart && secret && src) return secretCause(secret, src);
  return undefined;
}

function secretCause(secret: LicenceSecretCheck, src: LicenceSource): Cause | undefined {
  if (secret.state === 'missing')
    return {
      reason: 'LicenceSecretMissing',
      message: `the licence Secret ${src.secretName} does not exist in the pair's namespace; create it with the signed licence file under key ${src.fileKey} and the issuer's public key under ${src.publicKeyKey} (kubectl create secret generic ${src.secretName} --from-file=${src.fileKey}=license.json --from-file=${src.publicKeyKey}=public-key.pem)`,
    };
  if (secret.state === 'missingKeys')
    return {
      reason: 'LicenceKeyMissing',
      message: `the licence Secret ${src.secretName} has no key ${secret.keys.join(' and no key ')}; add it, or set spec.server.license.fileKey / publicKeyKey to the keys that hold the licence file and the public key`,
    };
  return undefined;
}

/**
 * A crash loop in words: the last termination's reason and exit code, and the last line the
 * server logged (the pod's terminationMessagePolicy is FallbackToLogsOnError).
 */
function crashMessage(pod: PodObservation): string {
  const t = pod.lastTermination;
  const exit = t
    ? `last exit: ${t.reason ?? 'terminated'}${t.exitCode !== undefined ? `, code ${t.exitCode}` : ''}`
    : 'no exit recorded';
  const said = t?.message ? lastLogMessage(t.message) : undefined;
  const n = pod.restarts ?? 0;
  return `the licence-server container keeps crashing (restarted ${n} time${n === 1 ? '' : 's'}, ${exit}${said ? `: ${clip(said)}` : ''}); see kubectl logs --previous for the member's pod`;
}

/** The last line of a termination message; for a JSON log line, its `msg`. */
export function lastLogMessage(text: string): string | undefined {
  const line = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .at(-1);
  if (line === undefined) return undefined;
  try {
    const parsed = JSON.parse(line) as { msg?: unknown; err?: { message?: unknown } };
    if (typeof parsed.msg === 'string') {
      const err = typeof parsed.err?.message === 'string' ? `: ${parsed.err.message}` : '';
      return `${parsed.msg}${err}`;
    }
  } catch {
    // Not JSON: the line as it is.
  }
  return line;
}

/** The cause of a licence a member refused (no licence in force); undefined when it has one. */
export function licenceCause(
  report: LicenceReport | undefined,
  src: LicenceSource | undefined,
): Cause | undefined {
  if (report === undefined || report.state === 'valid') return undefined;
  const secret = src ? `Secret ${src.secretName}` : 'the licence Secret';
  const why = detail(report.code ?? report.state, report.message);
  if (report.code === 'BAD_SIGNATURE')
    return {
      reason: 'LicenceSignatureInvalid',
      message: `the licence file is not signed by the issuer key in ${secret} (${why}); put a licence file and the public key of the issuer that signed it into the Secret`,
    };
  if (report.code === 'EXPIRED' || report.state === 'expired')
    return {
      reason: 'LicenceExpired',
      message: `the licence has expired (${why}); put a renewed licence file into ${secret}`,
    };
  return {
    reason: 'LicenceInvalid',
    message: `the licence file was refused (${why}); put a valid licence file issued to this pair into ${secret} (lspctl license verify checks one)`,
  };
}

/** The pair's cause when it cannot serve: the first member (in `order`) with one. */
export function pairCause(
  reasons: Record<Member, { reason: string; message: string }>,
  order: readonly Member[],
): { reason: CauseReason; message: string } | undefined {
  const withCause = order.filter((m) => isCause(reasons[m].reason));
  const first = withCause[0];
  if (first === undefined) return undefined;
  const both = withCause.length === 2 && reasons[withCause[1]!].reason === reasons[first].reason;
  return {
    reason: reasons[first].reason as CauseReason,
    message: `${both ? 'both members' : `the ${first} member`}: ${reasons[first].message}`,
  };
}

const DAY_MS = 86_400_000;
const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/**
 * The LicenceValid condition: from the licences the members report (`reports`, the live member
 * first), or the Secret's cause when no member could start.
 */
export function licenceCondition(
  reports: readonly (LicenceReport | undefined)[],
  secretCause: Cause | undefined,
  src: LicenceSource | undefined,
  now: number,
): ConditionSpec {
  const c = (status: ConditionSpec['status'], reason: string, message: string): ConditionSpec => ({
    type: CONDITION_LICENCE_VALID,
    status,
    reason,
    message,
  });
  const known = reports.filter((r): r is LicenceReport => r !== undefined);
  const inForce = known.find((r) => r.state === 'valid');
  const secret = src ? `Secret ${src.secretName}` : 'the licence Secret';
  if (inForce) {
    if (inForce.lastError !== undefined)
      return c(
        'True',
        'UpdateRefused',
        `a new licence file in ${secret} was refused (${detail(inForce.lastErrorCode ?? 'REFUSED', inForce.lastError)}); the members keep serving the previous licence${inForce.expiresAt !== undefined ? `, valid until ${isoDay(inForce.expiresAt)}` : ''}`,
      );
    const first = inForce.firstExpiry;
    const warnMs = (src?.expiryWarningDays ?? 0) * DAY_MS;
    if (first && warnMs > 0 && first.at - now < warnMs) {
      const days = Math.max(0, Math.ceil((first.at - now) / DAY_MS));
      return c(
        'True',
        'ExpiringSoon',
        `feature ${first.feature} expires on ${isoDay(first.at)} (in ${days} day${days === 1 ? '' : 's'}); put a renewed licence file into ${secret}`,
      );
    }
    return c(
      'True',
      'Valid',
      first ? `valid; feature ${first.feature} expires first, on ${isoDay(first.at)}` : 'valid',
    );
  }
  const refused = known.map((r) => licenceCause(r, src)).find((x) => x !== undefined);
  if (refused) return c('False', refused.reason, refused.message);
  if (secretCause) return c('False', secretCause.reason, secretCause.message);
  return c('Unknown', 'NotReported', 'no member has reported its licence yet');
}
