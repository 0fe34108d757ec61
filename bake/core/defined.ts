/** Optional fields as `exactOptionalPropertyTypes` wants them: a key is either present with a value or absent. */
export type Defined<T> = { [K in keyof T]?: Exclude<T[K], undefined> };

/** Drops keys whose value is undefined, so they neither override defaults nor reach APIs that reject `undefined`. */
export function withoutUndefined<T extends object>(value: T): Defined<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Defined<T>;
}
