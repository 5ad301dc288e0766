/**
 * Waits for every write, then throws the first failure: unlike Promise.all, no write is still
 * running unobserved when the reconcile ends (and is retried).
 */
export async function settleAll(writes: (Promise<unknown> | undefined)[]): Promise<void> {
  const failed = (await Promise.allSettled(writes)).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}
