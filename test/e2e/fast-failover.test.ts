import { randomBytes } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { killContainer } from '../cluster/node.ts';
import { FailoverBed, hangProcess } from '../support/failover-bed.ts';

// The sub-second policy on the real node: a 500 ms health-check timeout gives the members a
// 500 ms promise and a 125 ms heartbeat (docs/reliability.md, "Detection"), and the application
// hedges its attempts. The faults that wait on the promise (a hung process: detection; a killed
// container: the promotion) keep every invariant of test/support/failover-bed.ts: no lease lost
// or doubled, never more seats than licensed, never two members granting, 0 application errors.

const id = randomBytes(3).toString('hex');
const env = (pod: k8s.V1Pod, name: string) =>
  pod.spec?.containers[0]?.env?.find((e) => e.name === name)?.value;
const bed = new FailoverBed({
  ns: `e2e-fast-${id}`,
  operatorNs: `lpo-e2e-fast-${id}`,
  release: `lpo-fast-${id}`,
  pairSpec: { healthCheck: { periodSeconds: 1, timeoutMilliseconds: 500, failureThreshold: 1 } },
  podOnPatchedSpec: (pod) =>
    env(pod, 'LS_PEER_PROMISE_MS') === '500' && env(pod, 'LS_HEARTBEAT_MS') === '125',
  appHedgeAfterMs: 300,
});

beforeAll(() => bed.start());
afterAll(() => bed.stop());

describe('failover with a 500 ms timeout and promise on a real node', () => {
  it('the live process hangs', async () => {
    await bed.failoverScenario('fast: live process hung', async (_live, pod) => hangProcess(pod));
  });

  it('the live container is killed', async () => {
    await bed.failoverScenario('fast: live container killed', async (_live, pod) => {
      killContainer(pod.containerId!);
      return () => undefined;
    });
  });
});
