// One process that answers the licence-server health contract (docs/server-contract.md) for every
// member of the scale benchmark. kwok gives the fake pods addresses that the benchmark routes to
// this host (a local route on `lo`), so the operator's checks reach this process on the member's
// own address; it keeps a role and an epoch per local address and answers as that member would.
//
// Control over IPC from the benchmark:
//   { type: 'fail', ips, mode }   mode 'hang' (the request is read and never answered, as a stopped
//                                 process), 'unhealthy' (healthz and status answer 503), 'refuse' (connection reset)
//   { type: 'recover', ips }      answer again; a member that was active steps down, as the real
//                                 server does once it learns the higher epoch of its peer
//   { type: 'reset' }             forget every member (addresses may be reused by new pods)
//   { type: 'mark' }              start counting the members asked anything from now on
//   { type: 'stats' }             → { type: 'stats', requests, members, hung, seen } (seen: members
//                                 asked anything since the last mark)
// It reports { type: 'hung-request', ip, at } for the first request a failed member receives
// (the operator's first failing check), and { type: 'listening', port } once bound.
import http from 'node:http';

type Mode = 'ok' | 'hang' | 'unhealthy' | 'refuse';
interface MemberState {
  role: 'active' | 'standby';
  epoch: number;
  mode: Mode;
  reported: boolean;
  hung: Set<http.ServerResponse>;
}

const members = new Map<string, MemberState>();
let requests = 0;
const seen = new Set<string>();

function member(ip: string): MemberState {
  let s = members.get(ip);
  if (!s) {
    s = { role: 'standby', epoch: 0, mode: 'ok', reported: false, hung: new Set() };
    members.set(ip, s);
  }
  return s;
}

function send(msg: object): void {
  process.send?.(msg);
}

function json(res: http.ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>);
      } catch {
        resolve({});
      }
    });
  });
}

const server = http.createServer((req, res) => {
  requests++;
  const ip = (req.socket.localAddress ?? '').replace(/^::ffff:/, '');
  seen.add(ip);
  const s = member(ip);
  if (s.mode !== 'ok' && !s.reported) {
    s.reported = true;
    send({ type: 'hung-request', ip, at: Date.now() });
  }
  if (s.mode === 'hang') {
    s.hung.add(res);
    res.on('close', () => s.hung.delete(res));
    return;
  }
  if (s.mode === 'refuse') {
    req.socket.destroy();
    return;
  }
  const url = req.url ?? '/';
  if (req.method === 'GET' && url === '/healthz') {
    if (s.mode === 'unhealthy') json(res, 503, { status: 'unhealthy' });
    else json(res, 200, { status: 'ok' });
    return;
  }
  if (req.method === 'GET' && url === '/readyz') {
    json(res, 200, { status: 'ok' });
    return;
  }
  const [path, query = ''] = url.split('?') as [string, string?];
  if (req.method === 'GET' && path === '/v1/status') {
    // The operator reads the status as the health check of a reference server: unhealthy here too.
    if (s.mode === 'unhealthy') {
      json(res, 503, { code: 'UNHEALTHY', message: 'scale benchmark fault' });
      return;
    }
    // The operator's held read on a standby (it waits for a silence of the active): a stand-in
    // never hears anything, so it answers after the wait, as a standby whose active is well.
    const waitMs = Number(new URLSearchParams(query).get('waitMs') ?? 0);
    if (waitMs > 0) {
      const timer = setTimeout(() => answerStatus(res, s), Math.min(waitMs, 30_000));
      res.on('close', () => clearTimeout(timer));
      return;
    }
    answerStatus(res, s);
    return;
  }
  if (req.method === 'POST' && (url === '/v1/admin/promote' || url === '/v1/admin/demote')) {
    void readBody(req).then((body) => {
      const epoch = typeof body.epoch === 'number' ? body.epoch : -1;
      if (url === '/v1/admin/demote') {
        s.role = 'standby';
        s.epoch = Math.max(s.epoch, epoch);
        json(res, 200, { role: s.role, epoch: s.epoch });
        return;
      }
      if (epoch <= s.epoch) {
        json(res, 409, { code: 'STALE_EPOCH', message: `epoch ${epoch} is not above ${s.epoch}` });
        return;
      }
      s.role = 'active';
      s.epoch = epoch;
      json(res, 200, { role: s.role, epoch: s.epoch });
    });
    return;
  }
  json(res, 404, { code: 'NOT_FOUND', message: url });
});
// The operator keeps one connection per member open between checks: keep it longer than a period.
server.keepAliveTimeout = 30_000;
server.headersTimeout = 35_000;
server.maxConnections = 60_000;

process.on('message', (msg: { type: string; ips?: string[]; mode?: Mode }) => {
  if (msg.type === 'fail') {
    for (const ip of msg.ips ?? []) {
      const s = member(ip);
      s.mode = msg.mode ?? 'hang';
      s.reported = false;
    }
  } else if (msg.type === 'recover') {
    for (const ip of msg.ips ?? []) {
      const s = member(ip);
      s.mode = 'ok';
      s.reported = false;
      if (s.role === 'active') s.role = 'standby';
      for (const r of s.hung) r.destroy();
      s.hung.clear();
    }
  } else if (msg.type === 'reset') {
    for (const s of members.values()) for (const r of s.hung) r.destroy();
    members.clear();
  } else if (msg.type === 'mark') {
    seen.clear();
  } else if (msg.type === 'stats') {
    let hung = 0;
    for (const s of members.values()) hung += s.hung.size;
    send({ type: 'stats', requests, members: members.size, hung, seen: seen.size });
  }
});
// The benchmark going away takes this process with it.
process.on('disconnect', () => process.exit(0));

const port = Number(process.env.RESPONDER_PORT ?? 0);
server.listen(port, '0.0.0.0', () => {
  send({ type: 'listening', port: (server.address() as { port: number }).port });
});

/** The status a stand-in member answers. */
function answerStatus(res: http.ServerResponse, s: MemberState): void {
  json(res, 200, {
    role: s.role,
    epoch: s.epoch,
    ready: true,
    license: { state: 'valid', message: 'scale benchmark stand-in' },
    replication: { state: 'in-sync', mode: 'sync', lastSeq: 0, lagEntries: 0, lagSeconds: 0 },
  });
}
