// The replication stream on the admin port: the upgraded connection to the standby.
import http from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { z } from 'zod';
import { parse } from './http-common.ts';
import type { HttpError, HttpOptions } from './http-common.ts';
import { STREAM_PATH, STREAM_PROTOCOL, streamAck, streamQuery } from './protocol.ts';
import type { ErrorCode, ErrorJson } from './protocol.ts';
import type { Member } from './server.ts';

/**
 * The replication stream on the admin port: GET /v1/replication/stream with
 * `Upgrade: lsp-replication/1` becomes a raw connection (101 Switching Protocols) that carries
 * entries and heartbeats to the standby and its acks back (see protocol.ts). Not an express
 * route: wire `shouldUpgrade` into the server's `shouldUpgradeCallback` and `upgrade` into its
 * 'upgrade' event; `close()` ends the streams (upgraded sockets are no longer the server's).
 */
export function replicationStream(
  member: Member,
  opts: HttpOptions,
): {
  shouldUpgrade: (req: IncomingMessage) => boolean;
  upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  close: () => void;
} {
  const sockets = new Set<Duplex>();
  const reply = (socket: Duplex, status: number, body: ErrorJson): void => {
    const text = JSON.stringify(body);
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n` +
        `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(text)}\r\n` +
        `connection: close\r\n\r\n${text}`,
    );
  };
  return {
    shouldUpgrade: (req) =>
      req.method === 'GET' &&
      req.headers.upgrade?.toLowerCase() === STREAM_PROTOCOL &&
      (req.url ?? '').split('?')[0] === STREAM_PATH,
    upgrade(req, socket, head) {
      socket.on('error', () => socket.destroy());
      const caller = opts.callers?.judge(req, 'peer');
      if (caller && !caller.ok)
        return reply(socket, caller.status, { code: caller.code, message: caller.message });
      if (opts.adminTokens && !opts.adminTokens.check(req.headers.authorization))
        return reply(socket, 401, {
          code: 'UNAUTHORIZED',
          message: 'missing or wrong bearer token (Authorization: Bearer <token>)',
        });
      let q: z.infer<typeof streamQuery>;
      try {
        q = parse(streamQuery, Object.fromEntries(new URL(req.url ?? '', 'http://x').searchParams));
      } catch (err) {
        const e = err as HttpError;
        return reply(socket, e.status, { code: e.code, message: e.message });
      }
      let started = false;
      const r = member.streamForPeer(q, {
        write: (text) => {
          if (started) return socket.write(text);
          started = true;
          return socket.write(
            `HTTP/1.1 101 Switching Protocols\r\nupgrade: ${STREAM_PROTOCOL}\r\nconnection: Upgrade\r\n\r\n${text}`,
          );
        },
        end: () => socket.end(),
      });
      if (!r.ok) return reply(socket, r.status, { code: r.code as ErrorCode, message: r.message });
      sockets.add(socket);
      if ('setNoDelay' in socket && typeof socket.setNoDelay === 'function') socket.setNoDelay(true);
      // The token was checked once; a rotated-out token must not keep a stream open past its
      // grace period (the standby reconnects with its current token).
      const authorization = req.headers.authorization;
      const recheck = setInterval(() => {
        if (opts.adminTokens && !opts.adminTokens.check(authorization)) socket.destroy();
      }, 1000);
      recheck.unref();
      const decoder = new StringDecoder('utf8');
      let pending = '';
      const onData = (chunk: Buffer): void => {
        pending += decoder.write(chunk);
        const nl = pending.lastIndexOf('\n');
        if (nl < 0) {
          if (pending.length > 4096) socket.destroy();
          return;
        }
        const lines = pending.slice(0, nl).split('\n');
        pending = pending.slice(nl + 1);
        // acks are cumulative: the last of a chunk says it all (the epoch: the highest)
        let ack = -1;
        let epoch = 0;
        let hb: number | undefined;
        for (const line of lines) {
          if (!line) continue;
          let a: z.infer<typeof streamAck>;
          try {
            a = streamAck.parse(JSON.parse(line));
          } catch {
            socket.destroy();
            return;
          }
          ack = Math.max(ack, a.ack);
          epoch = Math.max(epoch, a.epoch);
          if (a.hb !== undefined) hb = Math.max(hb ?? 0, a.hb);
        }
        if (ack >= 0) r.ack(ack, epoch, hb);
      };
      socket.on('data', onData);
      socket.on('drain', () => r.handle.drained());
      socket.on('close', () => {
        clearInterval(recheck);
        sockets.delete(socket);
        r.handle.close();
      });
      if (socket.destroyed) {
        clearInterval(recheck);
        sockets.delete(socket);
        r.handle.close();
        return;
      }
      if (head.length > 0) onData(head);
    },
    close() {
      for (const s of sockets) s.destroy();
    },
  };
}
