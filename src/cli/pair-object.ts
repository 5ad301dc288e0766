// The shapes the pair commands read from the API server, before anything is formatted or decided.
import type { Condition, Member, PairStatus } from '../api/pair.ts';

/** A LicenseServerPair as read from the API server (not validated: every field may be missing). */
export interface PairObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    creationTimestamp?: string | Date;
    generation?: number;
    resourceVersion?: string;
    annotations?: Record<string, string>;
    [key: string]: unknown;
  };
  spec?: {
    preferredMember?: Member;
    failover?: { enabled?: boolean; failback?: string };
    healthCheck?: { periodSeconds?: number; timeoutSeconds?: number };
    [key: string]: unknown;
  };
  status?: PairStatus;
}

/** A core/v1 Event about a pair, reduced to what the summary shows. */
export interface PairEvent {
  type: string;
  reason: string;
  message: string;
  count: number;
  /** ISO time of the last occurrence */
  time?: string;
}

export function findCondition(pair: PairObject, type: string): Condition | undefined {
  return pair.status?.conditions?.find((c) => c.type === type);
}

/** How often the operator checks each member (the CRD's default when the spec does not say). */
export function probePeriodSeconds(pair: PairObject): number {
  return pair.spec?.healthCheck?.periodSeconds ?? 2;
}
