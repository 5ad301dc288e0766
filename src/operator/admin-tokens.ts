// The per-pair admin token the operator presents to its members: created once with a random
// value in the pair's Secret, read back (and cached) after, read again when a member seems to
// refuse it (a rotated token).
import type * as k8s from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import type { LicenseServerPair, PairStatus } from '../api/pair.ts';
import { ADMIN_TOKEN_KEY, desiredAdminTokenSecret } from './admin-token-secret.ts';
import { childNames } from './child-names.ts';
import { refusedRecheck } from './refused-recheck.ts';

/** Re-read after this long, so a rotation is picked up. */
const TOKEN_TTL_MS = 5 * 60_000;
/** A member that passes its health check but refuses its status hints at a rotated token: read the Secret again, at most this often. */
const TOKEN_RECHECK_MS = 10_000;

export interface AdminTokenIo {
  readSecret(namespace: string, name: string): Promise<k8s.V1Secret | undefined>;
  /** true when this call created it */
  createIfAbsent(secret: k8s.V1Secret): Promise<boolean>;
}

export class AdminTokens {
  private readonly tokens = new Map<string, { token: string; readAt: number }>();
  private readonly io: AdminTokenIo;
  private readonly now: () => number;

  constructor(io: AdminTokenIo, now: () => number) {
    this.io = io;
    this.now = now;
  }

  forget(key: string): void {
    this.tokens.delete(key);
  }

  /**
   * The pair's token. A pair without status is new: its Secret is created straight away (its
   * token is then known without reading it back); an existing one is read first.
   */
  async ensure(pair: LicenseServerPair, status: PairStatus): Promise<string | undefined> {
    const key = `${pair.metadata.namespace}/${pair.metadata.name}`;
    const cached = this.tokens.get(key);
    if (cached && this.now() - cached.readAt < TOKEN_TTL_MS) return cached.token;
    const name = childNames(pair.metadata.name).adminTokenSecret;
    const isNew = status.phase === undefined && status.liveMember === undefined;
    let secret = isNew ? undefined : await this.io.readSecret(pair.metadata.namespace, name);
    if (!secret) {
      const fresh = randomBytes(32).toString('base64url');
      if (await this.io.createIfAbsent(desiredAdminTokenSecret(pair, fresh))) {
        this.tokens.set(key, { token: fresh, readAt: this.now() });
        return fresh;
      }
      secret = await this.io.readSecret(pair.metadata.namespace, name);
    }
    const b64 = secret?.data?.[ADMIN_TOKEN_KEY];
    // During a rotation the Secret may hold several tokens, one per line: the members accept all,
    // and everyone presents the first.
    const token = b64
      ? Buffer.from(b64, 'base64')
          .toString('utf8')
          .split('\n')
          .map((l) => l.trim())
          .find((l) => l !== '')
      : undefined;
    if (token) this.tokens.set(key, { token, readAt: this.now() });
    return token;
  }

  /**
   * `refused`: a member answers its health check but not its status (which needs the token),
   * most likely a rotated token. Forget ours so the next reconcile reads the Secret again instead
   * of waiting out TOKEN_TTL_MS; returns when to come back (nothing else may wake the pair).
   */
  recheckIfRefused(key: string, refused: boolean): number | undefined {
    const cached = this.tokens.get(key);
    if (!cached || !refused) return undefined;
    const r = refusedRecheck(cached.readAt, TOKEN_RECHECK_MS, this.now());
    if (r.forget) this.tokens.delete(key);
    return r.afterMs;
  }
}
