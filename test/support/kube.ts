import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { clientsFor, type Kube } from './clients.ts';

/** Clients and per-test-file namespaces against the real API server of the local cluster. */

export type { Kube };

export function kube(): Kube {
  return clientsFor(inject('kubeconfig'));
}

/**
 * A new namespace, returned once its default ServiceAccount exists: until the controller-manager
 * creates it, the API server refuses pods there (403), which a test would take for a refusal of
 * its own making.
 */
export async function createNamespace(k: Kube, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await k.core.createNamespace({ body: { metadata: { name, labels: { 'lpo.dev/test': 'true' } } } });
  await eventually(`the default ServiceAccount of ${name}`, async () =>
    k.core.readNamespacedServiceAccount({ namespace: name, name: 'default' }),
  );
  return name;
}

export async function deleteNamespace(k: Kube, name: string): Promise<void> {
  await k.core.deleteNamespace({ name }).catch(() => undefined);
}

/** Polls until `check` returns a value that is not undefined/false, or fails with the last state. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`,
  );
}

export function isNotFound(err: unknown): boolean {
  return (err as { code?: number }).code === 404;
}
