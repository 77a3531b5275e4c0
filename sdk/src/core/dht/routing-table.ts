import { compareDistance, NODE_ID_BYTES, type NodeId } from '../identity/node-id.js'
import { BoundedMap } from '../util/bounded-map.js'
import { toHex } from '../wire/bytes.js'
import { parseIpv4 } from './ip-literal.js'

/** Bucket size and replication factor: 20, as in Kademlia and BitTorrent's DHT. */
export const K = 20
/** One bucket per bit of the 160-bit ID space. */
export const BUCKET_COUNT = NODE_ID_BYTES * 8
/** Nodes of one public IPv4 /24 in one bucket: limits one operator's weight (eclipse attacks). */
export const MAX_PER_SUBNET_IN_BUCKET = 2
/** Nodes of one public IPv4 /24 in the whole table. */
export const MAX_PER_SUBNET_IN_TABLE = 10
/** Replacement candidates remembered per full bucket. */
export const MAX_REPLACEMENTS = 8
/** Hosts whose subnet a table remembers: the few thousand a table sees, with room. */
const SUBNET_CACHE_ENTRIES = 10_000

/** A verified node in the table. Times are milliseconds from the injected clock. */
export interface Contact {
  id: NodeId
  host: string
  port: number
  /** When it first entered the table: older nodes are preferred (they tend to stay). */
  addedAt: number
  /** When it last answered or proved itself. */
  lastSeen: number
}

/** Outcome of {@link RoutingTable.add}. */
export type AddResult =
  | { status: 'added' }
  /** Already present: address and lastSeen refreshed, moved to the bucket's tail. */
  | { status: 'updated' }
  /**
   * The bucket is full: `candidate` is remembered as a pending replacement. Ping `oldest`;
   * if it answers call {@link RoutingTable.touch}, else {@link RoutingTable.remove} (which
   * promotes the candidate).
   */
  | { status: 'full'; oldest: Contact }
  | { status: 'rejected'; reason: 'self' | 'subnet' }

interface Bucket {
  /** Least recently seen first. */
  contacts: Contact[]
  replacements: Contact[]
}

/** Distances of closest()'s selection, reused (closest never runs re-entrantly). */
const scratchDistances = new Float64Array(256)

/** No contacts: what an absent bucket reads as. */
const NONE: readonly Contact[] = Object.freeze([])

export interface RoutingTableOptions {
  k?: number
  maxPerSubnetInBucket?: number
  maxPerSubnetInTable?: number
}

/**
 * A Kademlia routing table: 160 buckets of at most k verified contacts. Pure: no sockets,
 * no timers; the caller passes the time and does the pinging.
 *
 * @example
 * const table = new RoutingTable(me.id)
 * const r = table.add({ id, host, port }, clock.now())
 * if (r.status === 'full') ping(r.oldest).then((ok) => ok ? table.touch(r.oldest.id, now) : table.remove(r.oldest.id))
 */
export class RoutingTable {
  readonly k: number
  /**
   * Created on first use: only about log2(network size) buckets ever hold a contact, and 160
   * empty buckets (an object and two arrays each) were a sixth of a testnet node's heap.
   */
  private readonly buckets: Array<Bucket | undefined>
  /** Per bucket: when a lookup or a change last touched it (drives refresh). */
  private readonly lastChanged = new Float64Array(BUCKET_COUNT)
  private readonly bySubnet = new Map<string, number>()
  /** {@link subnetOf} by host (undefined: no limit applies), for the hosts this table saw. */
  private readonly subnets = new BoundedMap<string, string | undefined>(SUBNET_CACHE_ENTRIES)
  private count = 0
  private readonly maxInBucket: number
  private readonly maxInTable: number

  constructor(
    readonly localId: NodeId,
    options: RoutingTableOptions = {},
  ) {
    this.k = options.k ?? K
    this.maxInBucket = options.maxPerSubnetInBucket ?? MAX_PER_SUBNET_IN_BUCKET
    this.maxInTable = options.maxPerSubnetInTable ?? MAX_PER_SUBNET_IN_TABLE
    this.buckets = new Array<Bucket | undefined>(BUCKET_COUNT).fill(undefined)
  }

  /** Number of contacts. */
  get size(): number {
    return this.count
  }

  /** Index of the bucket for `id`: the length of the prefix it shares with the local ID. */
  bucketIndex(id: Uint8Array): number {
    for (let i = 0; i < NODE_ID_BYTES; i++) {
      const x = id[i]! ^ this.localId[i]!
      if (x !== 0) return i * 8 + Math.clz32(x) - 24
    }
    return BUCKET_COUNT // the local ID itself
  }

  /** Adds or refreshes a verified contact. */
  add(node: { id: NodeId; host: string; port: number }, now: number): AddResult {
    const index = this.bucketIndex(node.id)
    if (index >= BUCKET_COUNT) return { status: 'rejected', reason: 'self' }
    const bucket = (this.buckets[index] ??= { contacts: [], replacements: [] })
    const at = indexOfId(bucket.contacts, node.id)
    if (at >= 0) {
      const existing = bucket.contacts[at]!
      if (existing.host !== node.host || existing.port !== node.port) {
        // Same key, new address (a restart or a NAT rebinding): it proved its key again.
        if (!this.subnetAllows(bucket, node.host, existing.host)) {
          return { status: 'rejected', reason: 'subnet' }
        }
        this.countSubnet(existing.host, -1)
        this.countSubnet(node.host, +1)
        existing.host = node.host
        existing.port = node.port
      }
      existing.lastSeen = now
      bucket.contacts.splice(at, 1)
      bucket.contacts.push(existing)
      return { status: 'updated' }
    }
    if (!this.subnetAllows(bucket, node.host)) return { status: 'rejected', reason: 'subnet' }
    const contact: Contact = {
      id: node.id,
      host: node.host,
      port: node.port,
      addedAt: now,
      lastSeen: now,
    }
    if (bucket.contacts.length < this.k) {
      bucket.contacts.push(contact)
      this.lastChanged[index] = now
      this.countSubnet(node.host, +1)
      this.count++
      return { status: 'added' }
    }
    const r = indexOfId(bucket.replacements, node.id)
    if (r >= 0) bucket.replacements.splice(r, 1)
    bucket.replacements.push(contact)
    if (bucket.replacements.length > MAX_REPLACEMENTS) bucket.replacements.shift()
    return { status: 'full', oldest: bucket.contacts[0]! }
  }

  /** Marks a contact as alive now (it answered): moves it to its bucket's tail. */
  touch(id: Uint8Array, now: number): boolean {
    const bucket = this.bucketFor(id)
    if (!bucket) return false
    const at = indexOfId(bucket.contacts, id)
    if (at < 0) return false
    const contact = bucket.contacts[at]!
    contact.lastSeen = now
    bucket.contacts.splice(at, 1)
    bucket.contacts.push(contact)
    return true
  }

  /**
   * Removes a contact (it failed to answer) and promotes the most recent replacement
   * candidate, if any. Returns the promoted contact.
   */
  remove(id: Uint8Array, now?: number): Contact | undefined {
    const bucket = this.bucketFor(id)
    if (!bucket) return undefined
    const at = indexOfId(bucket.contacts, id)
    if (at < 0) {
      const r = indexOfId(bucket.replacements, id)
      if (r >= 0) bucket.replacements.splice(r, 1)
      return undefined
    }
    const [gone] = bucket.contacts.splice(at, 1)
    this.countSubnet(gone!.host, -1)
    this.count--
    while (bucket.replacements.length > 0) {
      const next = bucket.replacements.pop()!
      if (!this.subnetAllows(bucket, next.host)) continue
      if (now !== undefined) next.addedAt = now
      bucket.contacts.push(next)
      this.countSubnet(next.host, +1)
      this.count++
      if (now !== undefined) this.lastChanged[this.bucketIndex(id)] = now
      return next
    }
    return undefined
  }

  /** The least recently seen contact of `id`'s bucket when that bucket is full, else undefined. */
  oldestIfFull(id: Uint8Array): Contact | undefined {
    const bucket = this.bucketFor(id)
    if (!bucket || bucket.contacts.length < this.k) return undefined
    return bucket.contacts[0]
  }

  get(id: Uint8Array): Contact | undefined {
    const contacts = this.bucketFor(id)?.contacts
    if (!contacts) return undefined
    const at = indexOfId(contacts, id)
    return at < 0 ? undefined : contacts[at]
  }

  has(id: Uint8Array): boolean {
    return this.get(id) !== undefined
  }

  /** The `n` contacts closest to `target` by XOR, closest first. */
  closest(target: Uint8Array, n: number = this.k): Contact[] {
    // Distance groups, closest first: the target's own bucket b; then every deeper bucket
    // (their distances all have their top bit at b); then buckets b-1, b-2, … 0, each
    // farther than the last. Collect whole groups until there are n, then sort only those.
    const b = Math.min(this.bucketIndex(target), BUCKET_COUNT - 1)
    const out: Contact[] = []
    const add = (bucket: Bucket | undefined) => {
      if (!bucket) return
      const contacts = bucket.contacts
      for (let i = 0; i < contacts.length; i++) out.push(contacts[i]!)
    }
    add(this.buckets[b])
    if (out.length < n) {
      for (let j = b + 1; j < BUCKET_COUNT; j++) add(this.buckets[j])
    }
    for (let j = b - 1; j >= 0 && out.length < n; j--) add(this.buckets[j])
    if (out.length < 2) return out
    // Keep the n closest by insertion, on the distance's top 32 bits (one subtraction per
    // comparison; ties, rare among random IDs, fall back to the full comparison): no object
    // per contact and no full sort (find-node answers from here on every request).
    const t0 = target[0]!
    const t1 = target[1]!
    const t2 = target[2]!
    const t3 = target[3]!
    const m = Math.min(n, out.length)
    const best: Contact[] = new Array<Contact>(m)
    const dist = scratchDistances.length >= m ? scratchDistances : new Float64Array(m)
    let size = 0
    for (let i = 0; i < out.length; i++) {
      const c = out[i]!
      const id = c.id
      const d =
        (id[0]! ^ t0) * 0x1000000 + ((id[1]! ^ t1) << 16) + ((id[2]! ^ t2) << 8) + (id[3]! ^ t3)
      if (size === m) {
        const last = dist[m - 1]!
        if (d > last || (d === last && compareDistance(target, id, best[m - 1]!.id) >= 0)) continue
        size--
      }
      let j = size
      while (
        j > 0 &&
        (dist[j - 1]! > d ||
          (dist[j - 1] === d && compareDistance(target, best[j - 1]!.id, id) > 0))
      ) {
        dist[j] = dist[j - 1]!
        best[j] = best[j - 1]!
        j--
      }
      dist[j] = d
      best[j] = c
      size++
    }
    return best
  }

  /** Every contact. */
  all(): Contact[] {
    const out: Contact[] = []
    for (const b of this.buckets) if (b) out.push(...b.contacts)
    return out
  }

  /** Contacts of bucket `index`, least recently seen first. */
  bucket(index: number): readonly Contact[] {
    return this.buckets[index]?.contacts ?? NONE
  }

  /** Pending replacement candidates of bucket `index`. */
  replacements(index: number): readonly Contact[] {
    return this.buckets[index]?.replacements ?? NONE
  }

  /** Records that a lookup just covered the bucket of `id` (postpones its refresh). */
  markRefreshed(id: Uint8Array, now: number): void {
    const index = this.bucketIndex(id)
    if (index < BUCKET_COUNT) this.lastChanged[index] = now
  }

  /**
   * Indices of non-empty-range buckets not refreshed for `maxAgeMs`, up to the farthest
   * bucket that could hold nodes (the deepest non-empty bucket plus one).
   */
  staleBuckets(now: number, maxAgeMs: number): number[] {
    let deepest = -1
    this.buckets.forEach((b, i) => {
      if (b && b.contacts.length > 0) deepest = i
    })
    const out: number[] = []
    for (let i = 0; i <= Math.min(deepest + 1, BUCKET_COUNT - 1); i++) {
      if (now - this.lastChanged[i]! >= maxAgeMs) out.push(i)
    }
    return out
  }

  /** A random ID that falls in bucket `index` (for refresh lookups); `random` gives 20 bytes. */
  randomIdInBucket(index: number, random: Uint8Array): NodeId {
    const id = new Uint8Array(NODE_ID_BYTES)
    id.set(random.subarray(0, NODE_ID_BYTES))
    const byte = index >>> 3
    const bit = index & 7
    for (let i = 0; i < byte; i++) id[i] = this.localId[i]!
    // Share `bit` leading bits of this byte with the local ID, then differ at the next bit.
    const keepMask = (0xff << (8 - bit)) & 0xff
    const flip = 0x80 >>> bit
    let b = (this.localId[byte]! & keepMask) | (id[byte]! & ~keepMask & 0xff)
    b = (b & ~flip) | (~this.localId[byte]! & flip)
    id[byte] = b & 0xff
    return id
  }

  private bucketFor(id: Uint8Array): Bucket | undefined {
    return this.buckets[this.bucketIndex(id)]
  }

  private subnetAllows(bucket: Bucket, host: string, replacing?: string): boolean {
    const subnet = this.cachedSubnet(host)
    if (!subnet) return true
    if (replacing && this.cachedSubnet(replacing) === subnet) return true
    const inTable = this.bySubnet.get(subnet) ?? 0
    if (inTable >= this.maxInTable) return false
    let inBucket = 0
    for (const c of bucket.contacts) if (this.cachedSubnet(c.host) === subnet) inBucket++
    return inBucket < this.maxInBucket
  }

  private cachedSubnet(host: string): string | undefined {
    const known = this.subnets.get(host)
    if (known !== undefined || this.subnets.has(host)) return known
    const subnet = subnetOf(host)
    this.subnets.set(host, subnet)
    return subnet
  }

  private countSubnet(host: string, delta: number): void {
    const subnet = this.cachedSubnet(host)
    if (!subnet) return
    const n = (this.bySubnet.get(subnet) ?? 0) + delta
    if (n <= 0) this.bySubnet.delete(subnet)
    else this.bySubnet.set(subnet, n)
  }
}

/**
 * Where the contact with `id` is in `contacts`, or -1. IDs are public and nearly always
 * differ in their first byte: an early exit, not a constant-time comparison.
 */
function indexOfId(contacts: readonly Contact[], id: Uint8Array): number {
  const first = id[0]
  outer: for (let i = 0; i < contacts.length; i++) {
    const other = contacts[i]!.id
    if (other[0] !== first || other.byteLength !== id.byteLength) continue
    for (let j = 1; j < id.byteLength; j++) if (other[j] !== id[j]) continue outer
    return i
  }
  return -1
}

/**
 * The /24 of a public IPv4 address, or undefined when no subnet limit applies: loopback,
 * private (RFC 1918), link-local, CGNAT, and every IPv6 address.
 */
export function subnetOf(host: string): string | undefined {
  const b = parseIpv4(host)
  if (!b) return undefined
  const [a, c] = [b[0]!, b[1]!]
  if (a === 127 || a === 10 || a === 0) return undefined
  if (a === 172 && c >= 16 && c <= 31) return undefined
  if (a === 192 && c === 168) return undefined
  if (a === 169 && c === 254) return undefined
  if (a === 100 && c >= 64 && c <= 127) return undefined
  return `${b[0]}.${b[1]}.${b[2]}`
}

/** Hex of an ID, for logs. */
export function idKey(id: Uint8Array): string {
  return toHex(id)
}

/** A compact map key for bytes (one UTF-16 unit per byte): much cheaper than hex. */
export function bytesKey(bytes: Uint8Array): string {
  return String.fromCharCode.apply(null, bytes as unknown as number[])
}
