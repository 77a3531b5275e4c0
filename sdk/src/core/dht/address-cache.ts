import { BoundedMap } from '../util/bounded-map.js'
import type { Bytes } from '../wire/bytes.js'
import { formatIpv4, parseIpv4 } from './ip-literal.js'

/** Entries of each of a cache's two maps: a few hundred KiB at most per node. */
export const ADDRESS_CACHE_ENTRIES = 4096

/**
 * IPv4 addresses a node's codec meets again and again, parsed and formatted once: a nodes
 * reply carries 20 addresses, mostly known ones, and every pong carries one. A node keeps its
 * own and hands it to {@link encodeMessage} and {@link decodeMessage}; without one the codec
 * parses and formats every time, to the same bytes.
 */
export class AddressCache {
  private readonly texts = new BoundedMap<number, string>(ADDRESS_CACHE_ENTRIES)
  /** null: not an IPv4 literal (an IPv6 one). */
  private readonly bytes = new BoundedMap<string, Bytes | null>(ADDRESS_CACHE_ENTRIES)

  /** The dotted quad of a 32-bit IPv4 address. */
  ipv4Text(value: number): string {
    let text = this.texts.get(value)
    if (text === undefined) {
      text = formatIpv4(value)
      this.texts.set(value, text)
    }
    return text
  }

  /** The 4 bytes of an IPv4 literal, or undefined for anything else. */
  ipv4Bytes(host: string): Bytes | undefined {
    let bytes = this.bytes.get(host)
    if (bytes === undefined) {
      bytes = parseIpv4(host) ?? null
      this.bytes.set(host, bytes)
    }
    return bytes ?? undefined
  }
}
