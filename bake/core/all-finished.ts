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
