import { describe, expect, it } from 'vitest';
import type { PodObservation } from '../../../src/operator/observation.ts';
import { livePromiseHolderExited } from '../../../src/operator/promise-holder.ts';

const S = 1000;
const liveSince = 1_800_000_000 * S;
const running: PodObservation = {
  phase: 'Running',
  deleting: false,
  ready: true,
  containerTerminated: false,
  createdAt: liveSince - 60 * S,
  runningSince: liveSince - 50 * S,
};

describe('livePromiseHolderExited: the process promoted is known gone (R5, docs/reliability.md)', () => {
  const rows: [string, PodObservation | undefined, number | undefined, boolean][] = [
    ['its container runs since before the promotion (hung or cut off)', running, liveSince, false],
    [
      'its container terminated',
      { ...running, containerTerminated: true, runningSince: undefined },
      liveSince,
      true,
    ],
    [
      'its container runs again since a later second',
      { ...running, runningSince: liveSince + S },
      liveSince,
      true,
    ],
    [
      'its container started in the second of the promotion',
      { ...running, runningSince: liveSince },
      liveSince,
      false,
    ],
    ['no pod (deleted, perhaps forced while its node is cut off)', undefined, liveSince, false],
    [
      'a newer pod of the same name, terminated',
      { ...running, createdAt: liveSince + 5 * S, containerTerminated: true },
      liveSince,
      false,
    ],
    [
      'a pod made in the second of the promotion, restarted',
      { ...running, createdAt: liveSince, runningSince: liveSince + 9 * S },
      liveSince,
      false,
    ],
    [
      'the creation time unknown',
      { ...running, createdAt: undefined, containerTerminated: true },
      liveSince,
      false,
    ],
    ['no live-since in the status', { ...running, containerTerminated: true }, undefined, false],
  ];
  it.each(rows)('%s', (_name, pod, since, exited) => {
    expect(livePromiseHolderExited(pod, since)).toBe(exited);
  });
});
