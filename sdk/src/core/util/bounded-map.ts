/**
 * A `Map` that never holds more than `maxEntries`: setting a new key when full forgets the
 * oldest one (insertion order; setting a key again makes it the newest). The one cache shape
 * of the SDK: peers' keys, write tokens, verified endpoints, rate-limit buckets, parsed
 * addresses. Nothing in it is ever needed for correctness, only for speed or for forgetting.
 *
 * @example
 * const ids = new BoundedMap<string, NodeId>(4096)
 * const id = ids.getOrSet(keyHex, () => nodeIdFromPublicKey(key))
 */
export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>()

  constructor(readonly maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(`maxEntries must be a positive integer, got ${maxEntries}`)
    }
  }

  get size(): number {
    return this.map.size
  }

  get(key: K): V | undefined {
    return this.map.get(key)
  }

  has(key: K): boolean {
    return this.map.has(key)
  }

  /** Sets `key` as the newest entry; forgets the oldest beyond `maxEntries`. */
  set(key: K, value: V): this {
    this.map.delete(key)
    this.map.set(key, value)
    if (this.map.size > this.maxEntries) this.map.delete(this.map.keys().next().value as K)
    return this
  }

  /** The value of `key`, made by `make` and set when absent. */
  getOrSet(key: K, make: () => V): V {
    const known = this.map.get(key)
    if (known !== undefined || this.map.has(key)) return known as V
    const value = make()
    this.set(key, value)
    return value
  }

  delete(key: K): boolean {
    return this.map.delete(key)
  }

  clear(): void {
    this.map.clear()
  }

  keys(): IterableIterator<K> {
    return this.map.keys()
  }

  values(): IterableIterator<V> {
    return this.map.values()
  }

  entries(): IterableIterator<[K, V]> {
    return this.map.entries()
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.map.entries()
  }
}
