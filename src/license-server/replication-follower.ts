// The standby's side of replication as the member sees it: the pull loop, its requests to the
// peer, the stream's socket and its watchdog, the pauses after failures, around the rules of
// replication-follower-core.ts.
import type { Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import type { LogEntry } from './ledger.ts';
import { peerRequest, peerUpgrade, sleep } from './peer-client.ts';
import type { PeerError } from './peer-client.ts';
import { STREAM_PROTOCOL } from './protocol.ts';
import type { EntriesResponse, ReplicationState, SnapshotResponse } from './protocol.ts';
import { FollowerCore } from './replication-follower-core.ts';
import type { FollowerStep } from './replication-follower-core.ts';

/** What a follower needs from the member it belongs to. */
export type FollowerHost = {
  position(): { seq: number; epoch: number };
  memberName(): string;
  memberEpoch(): number;
  /** `jsons`: the entries' JSON texts as received, when the transport has them */
  applyEntries(entries: LogEntry[], jsons?: readonly string[]): void;
  applySnapshot(snap: SnapshotResponse): void;
  /** the peer showed an epoch; the host steps down / records it */
  sawPeer(info: {
    role: 'active' | 'standby';
    epoch: number;
    wall: number;
    advertiseUrl: string | null;
    /** the active's P, when it announces it */
    p?: number;
  }): void;
  log(level: 'info' | 'warn', msg: string, extra?: Record<string, unknown>): void;
  /** about to acknowledge (or ask for entries after) its position: a promise to stay standby (R1) */
  promising(): void;
};

export type FollowerOptions = {
  peerUrl: string;
  token: () => string;
  waitMs?: number;
  retryMs?: number;
  requestTimeoutMs?: number;
  now?: () => number;
  /** Source address of the connections to the peer (the member's own address when it binds one). */
  localAddress?: string;
};

/** How often a stream is checked for silence. */
const WATCHDOG_MS = 1000;

/** Entries of the stream that did not apply: the stream ends and the next step resyncs. */
class ApplyError extends Error {}

export class Follower {
  private readonly core: FollowerCore;
  private readonly peerUrl: string;
  private readonly token: () => string;
  private readonly requestTimeoutMs: number;
  private readonly now: () => number;
  private readonly localAddress: string | undefined;
  private readonly host: FollowerHost;
  private running = false;
  private loop: Promise<void> | undefined;
  private abort: AbortController | undefined;
  private cancelStream: (() => void) | undefined;

  constructor(host: FollowerHost, opts: FollowerOptions) {
    this.host = host;
    this.peerUrl = opts.peerUrl;
    this.token = opts.token;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 5000;
    this.now = opts.now ?? (() => performance.now());
    this.localAddress = opts.localAddress;
    this.core = new FollowerCore({
      waitMs: opts.waitMs ?? 1000,
      retryMs: opts.retryMs ?? 250,
      requestTimeoutMs: this.requestTimeoutMs,
    });
  }

  get skewSeconds(): number | null {
    return this.core.skewSeconds;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.abort?.abort();
    this.cancelStream?.();
    await this.loop;
    this.loop = undefined;
    this.core.stopped();
  }

  /** Last seq the active was known to have (undefined: never followed an active). */
  get knownActiveSeq(): number | undefined {
    return this.core.knownActiveSeq;
  }

  state(): ReplicationState {
    return this.core.state(this.now(), this.host.position().seq);
  }

  lag(): { entries: number; seconds: number } {
    return this.core.lag(this.now(), this.host.position().seq);
  }

  peerLastSeenSeconds(): number | null {
    return this.core.peerLastSeenSeconds(this.now());
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        await this.step();
        this.core.succeeded();
      } catch (err) {
        if (!this.running) break;
        const { delayMs, warn } = this.core.failed(err, Math.random());
        if (warn !== undefined) this.host.log('warn', 'replication: peer request failed', { error: warn });
        await sleep(delayMs);
      }
    }
  }

  private get<T>(pathAndQuery: string, timeoutMs: number): Promise<T> {
    this.abort = new AbortController();
    return peerRequest<T>(`${this.peerUrl}${pathAndQuery}`, {
      token: this.token(),
      timeoutMs,
      signal: this.abort.signal,
      ...(this.localAddress ? { localAddress: this.localAddress } : {}),
    });
  }

  private async step(): Promise<void> {
    const step = this.core.next();
    if (step === 'snapshot') await this.snapshotStep();
    else if (step === 'stream') await this.streamStep();
    else await this.pollStep();
  }

  /** A refused request: resync or long-poll from the next step on, or fail this one. */
  private refused(step: FollowerStep, err: unknown, seq: number): void {
    const verdict = this.core.refused(this.now(), step, err);
    if (verdict === 'resync')
      this.host.log('info', 'replication: the active asks for a resync from a snapshot', { seq });
    else if (verdict === 'long-poll')
      this.host.log('info', 'replication: the peer offers no replication stream; long-polling instead', {
        status: (err as PeerError).status,
      });
    else throw err;
  }

  private async snapshotStep(): Promise<void> {
    let snap: SnapshotResponse;
    try {
      snap = await this.get<SnapshotResponse>('/v1/replication/snapshot', 30_000);
    } catch (err) {
      this.refused('snapshot', err, this.host.position().seq);
      return;
    }
    this.host.sawPeer(snap);
    if (!this.running) return;
    this.host.applySnapshot(snap);
    this.core.snapshotLoaded(this.now(), snap.ledger.seq);
    this.host.log('info', 'replication: loaded snapshot from the active', { seq: snap.ledger.seq });
  }

  /** Follow the active over one persistent connection until it ends. */
  private async streamStep(): Promise<void> {
    const pos = this.host.position();
    const path = this.core.streamPath(pos, this.host.memberName(), this.host.memberEpoch());
    this.host.promising();
    let conn: { socket: Socket; head: Buffer };
    try {
      const upgrade = peerUpgrade(`${this.peerUrl}${path}`, {
        token: this.token(),
        protocol: STREAM_PROTOCOL,
        timeoutMs: this.requestTimeoutMs,
        ...(this.localAddress ? { localAddress: this.localAddress } : {}),
      });
      this.cancelStream = upgrade.cancel;
      conn = await upgrade.connected;
    } catch (err) {
      this.refused('stream', err, pos.seq);
      return;
    }
    if (!this.running) {
      conn.socket.destroy();
      return;
    }
    await this.follow(conn.socket, conn.head);
  }

  /**
   * Read the stream: apply the entries of each chunk, then acknowledge the position (once per
   * chunk, so a burst of entries costs one ack). Resolves when the stream ends.
   */
  private follow(socket: Socket, head: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      const decoder = new StringDecoder('utf8');
      let received = 0;
      let failed: Error | undefined;
      this.core.streamOpened(this.now());
      socket.setNoDelay(true);
      const watchdog = setInterval(() => {
        if (this.core.streamSilent(this.now()))
          socket.destroy(new Error(`the replication stream was silent for ${this.core.streamSilentMs} ms`));
      }, WATCHDOG_MS);
      watchdog.unref();
      this.cancelStream = () => socket.destroy();
      const onData = (chunk: Buffer): void => {
        received += chunk.length;
        const text = this.core.streamText(this.now(), decoder.write(chunk));
        if (text === undefined) return;
        try {
          this.received(text);
        } catch (err) {
          // entries that do not apply: resync from a snapshot at once; garbage: an error
          if (err instanceof ApplyError) socket.destroy();
          else socket.destroy(err as Error);
          return;
        }
        if (!this.running) return;
        const pos = this.host.position();
        this.host.promising();
        socket.write(this.core.ackLine(pos.seq, this.host.memberEpoch()));
      };
      socket.on('data', onData);
      socket.on('error', (err) => (failed = err));
      socket.on('close', () => {
        clearInterval(watchdog);
        this.cancelStream = undefined;
        if (!this.running) resolve();
        else if (failed) reject(failed);
        else if (received === 0) reject(new Error('the active closed the replication stream'));
        else resolve();
      });
      if (head.length > 0) onData(head);
    });
  }

  /** Complete lines of the stream: entries (applied in order) and heartbeats. */
  private received(text: string): void {
    const now = this.now();
    const lines = this.core.streamLines(now, Date.now(), text);
    if (lines.heartbeat) this.host.sawPeer(lines.heartbeat);
    if (!this.running) return;
    const last = lines.entries[lines.entries.length - 1];
    if (last && !this.apply(lines.entries, lines.jsons)) throw new ApplyError();
    this.core.applied(now, last?.seq, this.host.position().seq);
  }

  /** Long-poll GET /v1/replication/entries (a peer without the stream). */
  private async pollStep(): Promise<void> {
    const pos = this.host.position();
    const path = this.core.pollPath(pos, this.host.memberName(), this.host.memberEpoch());
    this.host.promising();
    let res: EntriesResponse;
    try {
      res = await this.get<EntriesResponse>(path, this.core.pollTimeoutMs);
    } catch (err) {
      this.refused('poll', err, pos.seq);
      return;
    }
    const now = this.now();
    this.core.polled(now, Date.now(), res);
    this.host.sawPeer(res);
    if (!this.running) return;
    if (res.entries.length > 0 && !this.apply(res.entries)) return;
    this.core.pollApplied(now, res.lastSeq, this.host.position().seq);
  }

  /** Entries that do not apply are a gap: logged, and the next step resyncs from a snapshot. */
  private apply(entries: LogEntry[], jsons?: readonly string[]): boolean {
    try {
      this.host.applyEntries(entries, jsons);
      return true;
    } catch (err) {
      this.host.log('warn', 'replication: cannot apply entries; resyncing from a snapshot', {
        error: (err as Error).message,
      });
      this.core.applyFailed();
      return false;
    }
  }
}
