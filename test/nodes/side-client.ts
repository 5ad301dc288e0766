// A licence client on one side of a cut: run inside a node's network namespace
// (`nsenter --net=/run/netns/<node> node side-client.ts '<config>'`), it checks out a seat
// directly at a member pod's address every 200 ms with a new connection each time, and prints
// one JSON line per attempt: {"at": ms, "status": 200 | 4xx | 5xx | 0, "code": "..."}.
// It stops when its stdin closes.
import { requestOnNewConnection } from '../support/http.ts';

export interface SideClientConfig {
  url: string;
  feature: string;
  ca: string;
  servername: string;
  host: string;
}

export interface SideAttempt {
  at: number;
  status: number;
  code?: string;
}

async function run(cfg: SideClientConfig): Promise<void> {
  let stop = false;
  process.stdin.on('close', () => (stop = true));
  process.stdin.resume();
  for (let i = 0; !stop; i++) {
    const at = Date.now();
    let attempt: SideAttempt;
    try {
      const r = await requestOnNewConnection(`${cfg.url}/v1/checkout`, {
        json: { feature: cfg.feature, clientId: `side-${process.pid}-${i}`, user: 'side', host: cfg.host },
        timeoutMs: 1500,
        tls: { ca: cfg.ca, servername: cfg.servername },
      });
      const code = /"code"\s*:\s*"([A-Z_]+)"/.exec(r.body)?.[1];
      attempt = { at, status: r.status, ...(code ? { code } : {}) };
    } catch (err) {
      attempt = { at, status: 0, code: (err as NodeJS.ErrnoException).code ?? 'NO_ANSWER' };
    }
    process.stdout.write(`${JSON.stringify(attempt)}\n`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

if (process.argv[2]) void run(JSON.parse(process.argv[2]) as SideClientConfig);
