/**
 * Tables keyed by id: rows are written as `{ id: { ...fields } }` so the keys are the id union, and the
 * full records are made from them in one place.
 */

/** `rows` with each row made into a full record that knows its key; keys and their order are kept. */
export function mapRows<Key extends string, Row, Full>(
  rows: Readonly<Record<Key, Row>>,
  make: (key: Key, row: Row) => Full,
): Readonly<Record<Key, Full>> {
  // Object.entries widens the keys to string; they are exactly the keys of `rows`.
  const entries = Object.entries(rows) as Array<[Key, Row]>;
  return Object.fromEntries(entries.map(([key, row]) => [key, make(key, row)])) as Record<Key, Full>;
}

/** The keys of a table, in table order, typed as its id union. */
export function keysOf<Key extends string>(rows: Readonly<Record<Key, unknown>>): readonly Key[] {
  return Object.keys(rows) as Key[];
}
