import { bech32m } from '@scure/base'
import { BadChecksumError, MalformedError } from '../errors.js'
import { toBytes, type Bytes } from '../wire/bytes.js'

/** A group's ID: 16 random bytes chosen by its creator (docs/PROTOCOL.md, "Groups"). */
export const GROUP_ID_BYTES = 16
/** The bech32m prefix of a group's text ID: `g1` + 26 data + 6 checksum characters. */
export const GROUP_ID_PREFIX = 'g'
/** Length of a group's text ID. */
export const GROUP_ID_LENGTH = 34

/** The text form of a group ID (its conversation ID): lower case, 34 characters, checksummed. */
export function encodeGroupId(id: Uint8Array): string {
  if (id.byteLength !== GROUP_ID_BYTES) {
    throw new MalformedError(`a group ID is ${GROUP_ID_BYTES} bytes`)
  }
  return bech32m.encode(GROUP_ID_PREFIX, bech32m.toWords(id))
}

/**
 * Parses a group's text ID (case-insensitive, spaces and dashes ignored). A wrong checksum
 * throws {@link BadChecksumError}; anything else that is not a group ID {@link MalformedError}.
 */
export function parseGroupId(text: string): Bytes {
  const compact = text.trim().replace(/[\s-]/g, '').toLowerCase()
  if (!compact.startsWith(GROUP_ID_PREFIX + '1') || compact.length !== GROUP_ID_LENGTH) {
    throw new MalformedError(
      `not a group ID: expected ${GROUP_ID_LENGTH} characters starting with "${GROUP_ID_PREFIX}1"`,
    )
  }
  let decoded
  try {
    decoded = bech32m.decode(compact as `${string}1${string}`, GROUP_ID_LENGTH)
  } catch (cause) {
    throw new BadChecksumError('the group ID has a typo (its checksum does not match)', { cause })
  }
  const bytes = toBytes(bech32m.fromWords(decoded.words))
  if (bytes.byteLength !== GROUP_ID_BYTES) throw new MalformedError('not a group ID: wrong length')
  return bytes
}

/** True when `text` parses as a group's text ID. */
export function isGroupId(text: string): boolean {
  try {
    parseGroupId(text)
    return true
  } catch {
    return false
  }
}
