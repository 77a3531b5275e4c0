import { utf8 } from '../../wire/bytes.js'
import { NODE_ID_BYTES } from '../../identity/node-id.js'
import type { DhtMessage } from '../messages.js'

/** Bytes of one `nodes` entry: ID, family, address, port. */
function entryBytes(host: string): number {
  return NODE_ID_BYTES + 1 + (host.includes(':') ? 16 : 4) + 2
}

/**
 * Shrinks an answer of `size` encoded bytes to at most `limit` for a requester that has not
 * proven its address (docs/PROTOCOL.md, "DHT amplification guard"): a `nodes` reply loses
 * its farthest entries, an `error` its text (both changed in place). Returns whether the
 * answer now fits; anything else, or one that cannot shrink enough, does not. Pure: the
 * caller encodes again.
 */
export function fitAnswer(answer: DhtMessage, size: number, limit: number): boolean {
  let excess = size - limit
  if (excess <= 0) return true
  if (answer.type === 'nodes') {
    while (excess > 0 && answer.nodes.length > 0) excess -= entryBytes(answer.nodes.pop()!.host)
    return excess <= 0
  }
  if (answer.type === 'error') {
    const text = answer.message
    const bytes = utf8(text).byteLength
    if (bytes < excess) return false
    // Characters are at least a byte each: start at the byte budget in characters.
    let clipped = text.slice(0, bytes - excess)
    while (clipped.length > 0 && utf8(clipped).byteLength > bytes - excess) {
      clipped = clipped.slice(0, -1)
    }
    answer.message = clipped
    return true
  }
  return false
}
