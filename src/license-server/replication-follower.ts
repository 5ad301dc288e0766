// The standby's side of replication: the pull loop over the stream, or long-polling a peer
// that does not offer it (the protocol is described in replication.ts).
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import type { LogEntry } from './ledger.ts';
import type { ReplicationState } from './protocol.ts';
import { PeerError, peerRefusal, peerRequest, sleep } from './peer-client.ts';
import { peerTlsOptions } from './peer-tls.ts';
import { STREAM_PATH, STREAM_PROTOCOL } from './replication.ts';
import type { EntriesResponse, SnapshotResponse, StreamHeartbeat } from './replication.ts';

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

export class Follower {
  private readonly opts: Required<Omit<FollowerOptions, 'token' | 'localAddress'>> & {
    token: () => string;
    localAddress?: string;
  };
  private readonly host: FollowerHost;
  private running = false;
  private loop: Promise<void> | undefined;
  private abort: AbortController | undefined;
  private needSnapshot = false;
  private lastOkAt = -Infinity;
  private activeLastSeq: number | undefined;
  private caughtUpAt = -Infinity;
  private following = false;
  private peerActive = false;
  /** false once the peer answered that it has no replication stream (an older version) */
  private streamSupported = true;
  private cancelStream: (() => void) | undefined;
  /** the number of the last heartbeat or answer received from the active */
  private lastMark = 0;
  skewSeconds: number | null = null;
  lastError = '';

  constructor(host: FollowerHost, opts: FollowerOptions) {
    this.host = host;
    this.opts = {
      waitMs: 1000,
      retryMs: 250,
      requestTimeoutMs: 5000,
      now: () => performance.now(),
      ...opts,
    };
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
    this.following = false;
  }

  /** Last seq the active was known to have (undefined: never followed an active). */
  get knownActiveSeq(): number | undefined {
    return this.activeLastSeq;
  }

  state(): ReplicationState {
    const now = this.opts.now();
    if (!this.following || !this.peerActive || now - this.lastOkAt > this.opts.waitMs + 3000)
      return 'disconnected';
    return this.lag().entries === 0 && !this.needSnapshot ? 'in-sync' : 'catching-up';
  }

  lag(): { entries: number; seconds: number } {
    if (this.activeLastSeq === undefined) return { entries: 0, seconds: 0 };
    const entries = Math.max(0, this.activeLastSeq - this.host.position().seq);
    const seconds =
      entries === 0 || !Number.isFinite(this.caughtUpAt) ? 0 : (this.opts.now() - this.caughtUpAt) / 1000;
    return { entries, seconds };
  }

  peerLastSeenSeconds(): number | null {
    return Number.isFinite(this.lastOkAt) ? (this.opts.now() - this.lastOkAt) / 1000 : null;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      try {
        await this.step();
        failures = 0;
      } catch (err) {
        if (!this.running) break;
        failures += 1;
        const e = err as Error;
        const msg = e instanceof PeerError ? `${e.code}: ${e.message}` : e.message;
        if (msg !== this.lastError) this.host.log('warn', 'replication: peer request failed', { error: msg });
        this.lastError = msg;
        const notActive = e instanceof PeerError && e.code === 'NOT_ACTIVE';
        if (!notActive) this.peerActive = false;
        // A peer that answers "not active" is up and about to be promoted, and once it is it
        // cannot grant until this standby acknowledges: ask again soon rather than backing off.
        const delay = notActive
          ? this.opts.retryMs
          : Math.min(this.opts.retryMs * 2 ** Math.min(failures - 1, 3), 2000);
        await sleep(delay * (0.5 + Math.random() / 2));
      }
    }
  }

  private get<T>(pathAndQuery: string, timeoutMs: number): Promise<T> {
    this.abort = new AbortController();
    return peerRequest<T>(`${this.opts.peerUrl}${pathAndQuery}`, {
      token: this.opts.token(),
      timeoutMs,
      signal: this.abort.signal,
      ...(this.opts.localAddress ? { localAddress: this.opts.localAddress } : {}),
    });
  }

  private async step(): Promise<void> {
    this.following = true;
    if (this.needSnapshot) {
      let snap: SnapshotResponse;
      try {
        snap = await this.get<SnapshotResponse>('/v1/replication/snapshot', 30_000);
      } catch (err) {
        this.notActive(err);
        throw err;
      }
      this.host.sawPeer(snap);
      if (!this.running) return;
      this.host.applySnapshot(snap);
      this.needSnapshot = false;
      this.peerActive = true;
      this.lastOkAt = this.opts.now();
      this.activeLastSeq = snap.ledger.seq;
      this.caughtUpAt = this.opts.now();
      this.host.log('info', 'replication: loaded snapshot from the active', { seq: snap.ledger.seq });
      this.lastError = '';
      return;
    }
    if (this.streamSupported) await this.streamStep();
    else await this.pollStep();
  }

  /** Follow the active over one persistent connection until it ends. */
  private async streamStep(): Promise<void> {
    const pos = this.host.position();
    const q =
      `${STREAM_PATH}?after=${pos.seq}&afterEpoch=${pos.epoch}` +
      `&member=${encodeURIComponent(this.host.memberName())}&epoch=${this.host.memberEpoch()}`;
    this.lastMark = 0;
    this.host.promising();
    let conn: { socket: Socket; head: Buffer };
    try {
      conn = await this.connectStream(q);
    } catch (err) {
      if (err instanceof PeerError && err.code === 'SNAPSHOT_REQUIRED') {
        this.host.log('info', 'replication: the active asks for a resync from a snapshot', { seq: pos.seq });
        this.needSnapshot = true;
        return;
      }
      // an older peer (404) or a server that does not take the upgrade (426): long-poll instead
      if (err instanceof PeerError && (err.status === 404 || err.status === 426)) {
        this.host.log('info', 'replication: the peer offers no replication stream; long-polling instead', {
          status: err.status,
        });
        this.streamSupported = false;
        return;
      }
      this.notActive(err);
      throw err;
    }
    if (!this.running) {
      conn.socket.destroy();
      return;
    }
    await this.follow(conn.socket, conn.head);
  }

  /** Ask the peer to upgrade GET /v1/replication/stream; a refusal becomes a PeerError. */
  private connectStream(pathAndQuery: string): Promise<{ socket: Socket; head: Buffer }> {
    const url = new URL(`${this.opts.peerUrl}${pathAndQuery}`);
    const request = url.protocol === 'https:' ? https.request : http.request;
    return new Promise((resolve, reject) => {
      const req = request(url, {
        agent: false,
        ...(this.opts.localAddress ? { localAddress: this.opts.localAddress } : {}),
        ...peerTlsOptions(url),
        headers: {
          authorization: `Bearer ${this.opts.token()}`,
          connection: 'Upgrade',
          upgrade: STREAM_PROTOCOL,
        },
      });
      const timer = setTimeout(
        () => req.destroy(new Error(`the peer did not answer within ${this.opts.requestTimeoutMs} ms`)),
        this.opts.requestTimeoutMs,
      );
      this.cancelStream = () => req.destroy(new Error('replication stopped'));
      req.on('upgrade', (_res, socket, head) => {
        clearTimeout(timer);
        resolve({ socket, head });
      });
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          clearTimeout(timer);
          reject(peerRefusal(res.statusCode ?? 0, text));
        });
        res.on('error', reject);
      });
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.end();
    });
  }

  /**
   * Read the stream: apply the entries of each chunk, then acknowledge the position (once per
   * chunk, so a burst of entries costs one ack). Resolves when the stream ends.
   */
  private follow(socket: Socket, head: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      const decoder = new StringDecoder('utf8');
      const silentMs = this.opts.waitMs + this.opts.requestTimeoutMs;
      let pending = '';
      let lastData = this.opts.now();
      let first = true;
      let received = 0;
      let failed: Error | undefined;
      socket.setNoDelay(true);
      const watchdog = setInterval(() => {
        if (this.opts.now() - lastData > silentMs)
          socket.destroy(new Error(`the replication stream was silent for ${silentMs} ms`));
      }, 1000);
      watchdog.unref();
      this.cancelStream = () => socket.destroy();
      const onData = (chunk: Buffer): void => {
        lastData = this.opts.now();
        received += chunk.length;
        pending += decoder.write(chunk);
        const nl = pending.lastIndexOf('\n');
        if (nl < 0) return;
        const text = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        try {
          this.received(text, first);
          first = false;
        } catch (err) {
          // entries that do not apply: resync from a snapshot at once; garbage: an error
          if (this.needSnapshot) socket.destroy();
          else socket.destroy(err as Error);
          return;
        }
        if (!this.running) return;
        const pos = this.host.position();
        this.host.promising();
        socket.write(`{"ack":${pos.seq},"epoch":${this.host.memberEpoch()},"hb":${this.lastMark}}\n`);
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

  /** Lines of the stream: entries (applied in order) and heartbeats. */
  private received(text: string, first: boolean): void {
    const entries: LogEntry[] = [];
    const jsons: string[] = [];
    let hb: StreamHeartbeat | undefined;
    let start = 0;
    while (start < text.length) {
      let end = text.indexOf('\n', start);
      if (end < 0) end = text.length;
      if (end > start) {
        const line = text.slice(start, end);
        const o = JSON.parse(line) as LogEntry | StreamHeartbeat;
        if ('seq' in o) {
          entries.push(o);
          jsons.push(line);
        } else hb = o;
      }
      start = end + 1;
    }
    const now = this.opts.now();
    this.lastOkAt = now;
    this.peerActive = true;
    this.lastError = '';
    if (hb) {
      if (hb.n !== undefined) this.lastMark = hb.n;
      this.skewSeconds = (hb.wall - Date.now()) / 1000;
      this.host.sawPeer(hb);
      this.activeLastSeq = first ? hb.lastSeq : Math.max(this.activeLastSeq ?? 0, hb.lastSeq);
    }
    if (!this.running) return;
    const last = entries[entries.length - 1];
    if (last) {
      try {
        this.host.applyEntries(entries, jsons);
      } catch (err) {
        this.host.log('warn', 'replication: cannot apply entries; resyncing from a snapshot', {
          error: (err as Error).message,
        });
        this.needSnapshot = true;
        throw err;
      }
      this.activeLastSeq = Math.max(this.activeLastSeq ?? 0, last.seq);
    }
    if (this.host.position().seq >= (this.activeLastSeq ?? 0)) this.caughtUpAt = now;
  }

  /** Long-poll GET /v1/replication/entries (a peer without the stream). */
  private async pollStep(): Promise<void> {
    const pos = this.host.position();
    const q =
      `/v1/replication/entries?after=${pos.seq}&afterEpoch=${pos.epoch}&wait=${this.opts.waitMs}` +
      `&member=${encodeURIComponent(this.host.memberName())}&epoch=${this.host.memberEpoch()}` +
      (this.lastMark > 0 ? `&hb=${this.lastMark}` : '');
    this.host.promising();
    let res: EntriesResponse;
    try {
      res = await this.get<EntriesResponse>(q, this.opts.waitMs + this.opts.requestTimeoutMs);
    } catch (err) {
      if (err instanceof PeerError && err.code === 'SNAPSHOT_REQUIRED') {
        this.host.log('info', 'replication: the active asks for a resync from a snapshot', { seq: pos.seq });
        this.needSnapshot = true;
        return;
      }
      this.notActive(err);
      throw err;
    }
    const now = this.opts.now();
    this.lastOkAt = now;
    this.peerActive = true;
    this.lastError = '';
    this.skewSeconds = (res.wall - Date.now()) / 1000;
    this.lastMark = res.n ?? 0;
    this.host.sawPeer(res);
    if (!this.running) return;
    if (res.entries.length > 0) {
      try {
        this.host.applyEntries(res.entries);
      } catch (err) {
        this.host.log('warn', 'replication: cannot apply entries; resyncing from a snapshot', {
          error: (err as Error).message,
        });
        this.needSnapshot = true;
        return;
      }
    }
    this.activeLastSeq = res.lastSeq;
    if (this.host.position().seq >= res.lastSeq) this.caughtUpAt = now;
  }

  private notActive(err: unknown): void {
    if (err instanceof PeerError && err.code === 'NOT_ACTIVE') {
      // The peer is up but not active: nothing to follow (a later active with another
      // history answers SNAPSHOT_REQUIRED to our position).
      this.peerActive = false;
      this.lastOkAt = this.opts.now();
    }
  }
}
