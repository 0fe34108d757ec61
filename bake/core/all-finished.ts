/**
 * Promise.all for steps that hold resources: every step finishes (or fails) before the first failure is
 * thrown, so none is still attaching, mounting or writing while a cleanup stack unwinds.
 */
type Settled<T extends readonly unknown[]> = { -readonly [K in keyof T]: Awaited<T[K]> };

export async function allFinished<T extends readonly unknown[] | []>(steps: T): Promise<Settled<T>> {
  const results = await Promise.allSettled<readonly unknown[]>(steps);
  const failure = results.find((result) => result.status === 'rejected');
  if (failure) throw failure.reason;
  return results.map((result) => (result as PromiseFulfilledResult<unknown>).value) as Settled<T>;
}

/**
 * allFinished over step functions with at most `limit` running at once (bake's --jobs). After a failure
 * no further step starts; the running ones finish before the first failure (in the order given) is thrown.
 */
export async function allFinishedLimited<T>(steps: ReadonlyArray<() => Promise<T>>, limit: number): Promise<T[]> {
  const results: Array<PromiseSettledResult<T>> = [];
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < steps.length && !failed) {
      const index = next++;
      results[index] = await steps[index]!().then(
        (value) => ({ status: 'fulfilled', value }) as const,
        (reason: unknown) => {
          failed = true;
          return { status: 'rejected', reason } as const;
        },
      );
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, steps.length)) }, worker));
  const failure = results.find((result) => result?.status === 'rejected');
  if (failure) throw failure.reason;
  return results.map((result) => (result as PromiseFulfilledResult<T>).value);
}
