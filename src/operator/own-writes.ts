// Read your own writes: the informer's cache shows a status write only once its watch event
// arrives, and a reconcile that starts before that (two pods of a pair change milliseconds apart)
// would decide and announce from the status before the write: the same cause Event twice, with the
// message of each. The status this process wrote stands in for the cached one until the cache has
// moved past the version the write was based on.
import type { PairStatus } from '../api/pair.ts';

interface OwnWrite {
  /** The resourceVersion of the object the write was computed from. */
  basedOn: string | undefined;
  status: PairStatus;
}

export class OwnStatusWrites {
  private readonly writes = new Map<string, OwnWrite>();

  /** The status to start from: ours while the cache still shows the object our write was based on. */
  current(key: string, cachedVersion: string | undefined, cached: PairStatus | undefined): PairStatus {
    const own = this.writes.get(key);
    if (own && cachedVersion !== undefined && own.basedOn === cachedVersion) return own.status;
    this.writes.delete(key);
    return cached ?? {};
  }

  /** A status written over the object at `basedOn` (a plain JSON copy: what the API server holds). */
  wrote(key: string, basedOn: string | undefined, status: PairStatus): void {
    this.writes.set(key, { basedOn, status: JSON.parse(JSON.stringify(status)) as PairStatus });
  }

  forget(key: string): void {
    this.writes.delete(key);
  }
}
