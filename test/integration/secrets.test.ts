import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNamespace, deleteNamespace, eventually, kube, type Kube } from '../support/kube.ts';
import { kubectl } from '../support/kubectl.ts';
import { readPair, startOperatedLoopbackPair, type OperatedLoopbackPair } from '../support/members.ts';
import { ensureCrd, OperatorProcess } from '../support/operator.ts';

// The admin token, end to end with real processes: the operator and two licence servers (loopback
// members, a stand-in kubelet) go through a rotation without a refused call, then a wrong token in
// the Secret, which the operator notices by itself (a member that is healthy but refuses its status)
// and recovers from as soon as the Secret is right, well before the five-minute re-read. No token
// value may appear in the operator's output, the members' logs, the Events or the pair's status.

const PAIR = 'tokens';
let k: Kube;
let ns: string;
let loopback: OperatedLoopbackPair;
let operator: OperatorProcess;
const newToken = `new-${randomBytes(24).toString('base64url')}`;
const wrongToken = `wrong-${randomBytes(24).toString('base64url')}`;

async function setSecret(value: string): Promise<void> {
  await k.core.replaceNamespacedSecret({
    namespace: ns,
    name: `${PAIR}-admin-token`,
    body: { metadata: { name: `${PAIR}-admin-token` }, stringData: { token: value } },
  });
}

/** What the kubelet would do with the Secret: update the mounted file of both members. */
function setMemberFile(value: string): void {
  fs.writeFileSync(loopback.fx.tokenFile, `${value}\n`);
}

async function rolesReported(): Promise<Record<string, string | undefined>> {
  const st = (await readPair(k, ns, PAIR)).status;
  return { primary: st?.members?.['primary']?.role, redundant: st?.members?.['redundant']?.role };
}

beforeAll(async () => {
  k = kube();
  await ensureCrd(kubectl);
  ns = await createNamespace(k, 'secrets');
  loopback = await startOperatedLoopbackPair(k, ns, PAIR, {
    healthCheck: { periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 2, successThreshold: 1 },
    failover: { failback: 'Manual', minSecondsBetweenFailovers: 1 },
  });
  ({ operator } = loopback);
});

afterAll(async () => {
  await loopback?.stop();
  if (ns) await deleteNamespace(k, ns);
});

describe('admin token rotation and secrecy', () => {
  it('serves the primary with the generated-or-given token', async () => {
    await eventually(
      'primary live, both roles read',
      async () => {
        const st = (await readPair(k, ns, PAIR)).status;
        const roles = await rolesReported();
        return st?.liveMember === 'primary' && roles.primary === 'active' && roles.redundant === 'standby';
      },
      60_000,
      250,
    );
  });

  it('rotates without a refused call: new and old accepted, new presented, then old dropped', async () => {
    const old = loopback.fx.token;
    setMemberFile(`${old}\n${newToken}`);
    await setSecret(`${old}\n${newToken}`);
    setMemberFile(`${newToken}\n${old}`);
    await setSecret(`${newToken}\n${old}`);
    // A planned switchover needs the operator's token for the demote and the promote.
    kubectl([
      'patch',
      'lsp',
      PAIR,
      '-n',
      ns,
      '--type=merge',
      '-p',
      '{"spec":{"preferredMember":"redundant"}}',
    ]);
    await eventually(
      'switched over to the redundant member',
      async () => {
        const st = (await readPair(k, ns, PAIR)).status;
        const roles = await rolesReported();
        return st?.liveMember === 'redundant' && roles.redundant === 'active' && roles.primary === 'standby';
      },
      60_000,
      250,
    );
    setMemberFile(newToken);
    await setSecret(newToken);
    const events = kubectl(['get', 'events', '-n', ns, '-o', 'jsonpath={.items[*].reason}']);
    expect(events).not.toMatch(/PromoteFailed/);
    expect(operator.tail(1_000_000)).not.toMatch(/promotion refused|could not demote/);
  });

  it('notices a wrong token in the Secret and recovers as soon as it is right, without waiting five minutes', async () => {
    await setSecret(wrongToken);
    // A restarted operator reads the Secret afresh: it now holds a token the members refuse.
    await operator.stop();
    await operator.start();
    await eventually(
      'member status unreadable with the wrong token',
      async () => {
        const roles = await rolesReported();
        return roles.primary === undefined && roles.redundant === undefined;
      },
      60_000,
      250,
    );
    const fixedAt = Date.now();
    await setSecret(newToken);
    await eventually(
      'roles read again with the right token',
      async () => {
        const roles = await rolesReported();
        return roles.redundant === 'active' && roles.primary === 'standby';
      },
      90_000,
      250,
    );
    // The cached token lives five minutes; the refusal made the operator read the Secret again.
    expect(Date.now() - fixedAt).toBeLessThan(120_000);
  });

  it('no token value in the operator output, the members’ logs, the Events or the status', async () => {
    const tokens = [loopback.fx.token, newToken, wrongToken];
    const events = kubectl(['get', 'events', '-n', ns, '-o', 'json']);
    const pair = kubectl(['get', 'lsp', PAIR, '-n', ns, '-o', 'json']);
    const memberLogs = ['primary', 'redundant'].map((m) =>
      fs.readFileSync(path.join(loopback.fx.dir, `${m}.log`), 'utf8'),
    );
    const operatorLog = operator.tail(100_000_000);
    // The captured output is real: reconciles were logged, members logged their work.
    expect(operatorLog).toMatch(/operator starting/);
    expect(JSON.parse(events).items.length).toBeGreaterThan(0);
    for (const [what, text] of [
      ['operator output', operatorLog],
      ['Events', events],
      ['status', pair],
      ['primary log', memberLogs[0]!],
      ['redundant log', memberLogs[1]!],
    ] as const) {
      for (const t of tokens) expect(text.includes(t), `${what} contains a token`).toBe(false);
      // Nor base64 of it (a Secret's data form).
      for (const t of tokens)
        expect(text.includes(Buffer.from(t).toString('base64')), `${what} contains a base64 token`).toBe(
          false,
        );
    }
  });
});
