/**
 * Waits until each CRD is Established, by polling its condition. Not `kubectl wait`: on a CRD
 * created a moment ago, whose status.conditions is still null, it fails at once (".status.conditions
 * accessor error: <nil> is of the type <nil>") instead of waiting. `kubectl` runs kubectl with the
 * test cluster's kubeconfig and throws when it fails.
 */
export function waitForCrdsEstablished(
  kubectl: (args: string[]) => string,
  crds: string[],
  timeoutMs = 60_000,
): void {
  const end = Date.now() + timeoutMs;
  for (const crd of crds) {
    for (;;) {
      let seen: string;
      try {
        seen = kubectl([
          'get',
          'crd',
          crd,
          '-o',
          'jsonpath={.status.conditions[?(@.type=="Established")].status}',
        ]);
      } catch (err) {
        seen = String(err);
      }
      if (seen.trim() === 'True') break;
      if (Date.now() > end)
        throw new Error(`CRD ${crd} not Established within ${timeoutMs / 1000} s (${seen.trim()})`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
}
