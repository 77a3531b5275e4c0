import { bech32m } from '@scure/base'
import { BadChecksumError, MalformedError } from '../errors.js'
import { toBytes } from '../wire/bytes.js'
import { NODE_ID_BYTES, type NodeId } from './node-id.js'

/**
 * The human-readable prefix of a text ID. The text ID is bech32m (BIP 350) with this prefix:
 * `p1` + 32 data characters + 6 checksum characters = 40 characters, case-insensitive. The
 * BCH checksum detects any error in up to 4 characters, so a typo is caught, never accepted.
 */
export const TEXT_ID_PREFIX = 'p'
/** Length of a text ID: shorter than Tox's 76 and Session's 66 characters. */
export const TEXT_ID_LENGTH = 40

/** The text form of an ID, for people: lower case, 40 characters, checksummed. */
export function encodeTextId(id: NodeId): string {
  if (id.byteLength !== NODE_ID_BYTES) throw new MalformedError(`an ID is ${NODE_ID_BYTES} bytes`)
  return bech32m.encode(TEXT_ID_PREFIX, bech32m.toWords(id))
}

/**
 * Parses a text ID typed or pasted by a person: case-insensitive; spaces and dashes are
 * ignored so that grouped forms (`p1abc-def…`) paste cleanly. A wrong checksum throws
 * {@link BadChecksumError}; anything else that is not an ID throws {@link MalformedError}.
 */
export function parseTextId(text: string): NodeId {
  const compact = text.trim().replace(/[\s-]/g, '').toLowerCase()
  if (!compact.startsWith(TEXT_ID_PREFIX + '1') || compact.length !== TEXT_ID_LENGTH) {
    throw new MalformedError(
      `not a Passage ID: expected ${TEXT_ID_LENGTH} characters starting with "${TEXT_ID_PREFIX}1"`,
    )
  }
  if (!/^[qpzry9x8gf2tvdw0s3jn54khce6mua7l]+$/.test(compact.slice(2))) {
    throw new MalformedError('not a Passage ID: it contains characters that IDs never use')
  }
  let decoded
  try {
    decoded = bech32m.decode(compact as `${string}1${string}`, TEXT_ID_LENGTH)
  } catch (cause) {
    throw new BadChecksumError(undefined, { cause })
  }
  const bytes = toBytes(bech32m.fromWords(decoded.words))
  if (bytes.byteLength !== NODE_ID_BYTES) throw new MalformedError('not a Passage ID: wrong length')
  return bytes
}

/** True when `text` parses as a text ID. */
export function isTextId(text: string): boolean {
  try {
    parseTextId(text)
    return true
  } catch {
    return false
  }
}
