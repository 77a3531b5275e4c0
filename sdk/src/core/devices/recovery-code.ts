import { bech32m } from '@scure/base'
import { BadChecksumError, MalformedError } from '../errors.js'
import { toBytes, type Bytes } from '../wire/bytes.js'

/** The prefix of a recovery code: bech32m, `pr1` then 58 characters (52 data, 6 checksum). */
export const RECOVERY_CODE_PREFIX = 'pr'
/** Bytes of the account's private key a recovery code carries. */
export const RECOVERY_KEY_BYTES = 32
const RECOVERY_CODE_LENGTH = 61

/**
 * The recovery code of an account: its 32-byte private key as bech32m (`pr1…`), shown in
 * groups of 5 characters after the prefix. Whoever holds it holds the account: it is shown
 * once, to be written down.
 */
export function encodeRecoveryCode(privateKey: Uint8Array): string {
  if (privateKey.byteLength !== RECOVERY_KEY_BYTES) {
    throw new MalformedError(`a recovery code carries a ${RECOVERY_KEY_BYTES}-byte key`)
  }
  const code = bech32m.encode(RECOVERY_CODE_PREFIX, bech32m.toWords(privateKey))
  const body = code.slice(3).match(/.{1,5}/g) ?? []
  return `pr1 ${body.join(' ')}`
}

/**
 * The private key of a recovery code, typed or pasted: case, spaces and dashes are ignored.
 * A typo fails the checksum ({@link BadChecksumError}).
 */
export function parseRecoveryCode(text: string): Bytes {
  const compact = text.replace(/[\s-]/g, '').toLowerCase()
  if (!compact.startsWith(`${RECOVERY_CODE_PREFIX}1`) || compact.length !== RECOVERY_CODE_LENGTH) {
    throw new MalformedError(
      `not a recovery code: expected ${RECOVERY_CODE_LENGTH} characters starting with "${RECOVERY_CODE_PREFIX}1"`,
    )
  }
  let words
  try {
    words = bech32m.decode(compact as `${string}1${string}`, RECOVERY_CODE_LENGTH).words
  } catch (cause) {
    throw new BadChecksumError('the recovery code has a typo (its checksum does not match)', {
      cause,
    })
  }
  const key = toBytes(bech32m.fromWords(words))
  if (key.byteLength !== RECOVERY_KEY_BYTES)
    throw new MalformedError('not a recovery code: wrong length')
  return key
}
