import { sha256 } from '@noble/hashes/sha2.js'
import { KeyMismatchError, MalformedError } from '../errors.js'
import { nodeIdFromPublicKey, PUBLIC_KEY_BYTES, type NodeId } from '../identity/node-id.js'
import { encodeTextId, parseTextId } from '../identity/text-id.js'
import {
  concatBytes,
  equalBytes,
  fromBase64Url,
  toBase64Url,
  utf8,
  type Bytes,
} from '../wire/bytes.js'
import { formDecode, percentEncode } from '../wire/form.js'

/** The scheme of a link request, the content of the QR code a new device shows. */
export const LINK_URI_SCHEME = 'passage-link:'
/** Domain of the confirmation code. */
const LINK_CODE_DOMAIN = utf8('passage/link-code/v1\0')
/** Addresses one link request names at most. */
const MAX_LINK_ADDRESSES = 4

/** What a new device asks to be linked with: its key, a one-time key, where it listens. */
export interface LinkRequestCard {
  /** The new device's key (33 bytes): its identity once linked. */
  deviceKey: Bytes
  /** Its ID, the hash of {@link deviceKey} (where its link listener and mailbox are). */
  deviceId: NodeId
  /** A one-time key (33 bytes): the provisioning message is sealed to it. */
  ephemeralKey: Bytes
  /** Where its link listener is, best first (`host:port`, IPv6 in brackets). */
  addresses: Array<{ host: string; port: number }>
  /** The name it suggests for itself. */
  name?: string
}

/**
 * `passage-link:<text ID of the device key>?key=<device key>&eph=<one-time key>[&addr=<host:port,…>][&name=<name>]`
 * (keys base64url, values percent-encoded): what `passage init --link` shows as a QR code.
 */
export function encodeLinkUri(card: Omit<LinkRequestCard, 'deviceId'>): string {
  const parts = [
    `key=${percentEncode(toBase64Url(card.deviceKey))}`,
    `eph=${percentEncode(toBase64Url(card.ephemeralKey))}`,
  ]
  if (card.addresses.length > 0) {
    parts.push(
      `addr=${percentEncode(
        card.addresses
          .slice(0, MAX_LINK_ADDRESSES)
          .map((a) => (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`))
          .join(','),
      )}`,
    )
  }
  if (card.name) parts.push(`name=${percentEncode(card.name)}`)
  return `${LINK_URI_SCHEME}${encodeTextId(nodeIdFromPublicKey(card.deviceKey))}?${parts.join('&')}`
}

/** Parses a link request; throws {@link MalformedError}, or {@link KeyMismatchError} when the key is not the ID's. */
export function parseLinkUri(uri: string): LinkRequestCard {
  const trimmed = uri.trim()
  if (!trimmed.toLowerCase().startsWith(LINK_URI_SCHEME)) {
    throw new MalformedError(`not a device link request: it must start with "${LINK_URI_SCHEME}"`)
  }
  const [idPart = '', query = ''] = trimmed.slice(LINK_URI_SCHEME.length).split('?', 2)
  const id = parseTextId(idPart)
  const params = formDecode(query)
  const deviceKey = keyParam(params.get('key'), 'key')
  const ephemeralKey = keyParam(params.get('eph'), 'eph')
  if (!equalBytes(nodeIdFromPublicKey(deviceKey), id)) throw new KeyMismatchError()
  const addresses = (params.get('addr') ?? '')
    .split(',')
    .filter((a) => a !== '')
    .slice(0, MAX_LINK_ADDRESSES)
    .map(parseAddress)
  const name = params.get('name') ?? undefined
  return { deviceKey, deviceId: id, ephemeralKey, addresses, ...(name ? { name } : {}) }
}

function keyParam(value: string | undefined, what: string): Bytes {
  if (!value) throw new MalformedError(`the link request has no ${what}= parameter`)
  const key = fromBase64Url(value, what)
  if (key.byteLength !== PUBLIC_KEY_BYTES || key[0] !== 0x05) {
    throw new MalformedError(`${what} must be a ${PUBLIC_KEY_BYTES}-byte public key`)
  }
  return key
}

function parseAddress(text: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text)
  const port = Number(match?.[3])
  if (!match || port < 1 || port > 65535) {
    throw new MalformedError(`not an address (host:port): ${JSON.stringify(text)}`)
  }
  return { host: match[1] ?? match[2]!, port }
}

/**
 * The confirmation code both devices show: `SHA-256("passage/link-code/v1\0" || deviceKey ||
 * ephemeralKey)`, its first 4 bytes as a big-endian number modulo 10^6, as six digits. A QR
 * code swapped for someone else's shows another code on the approving device.
 */
export function linkCode(deviceKey: Uint8Array, ephemeralKey: Uint8Array): string {
  const digest = sha256(concatBytes(LINK_CODE_DOMAIN, deviceKey, ephemeralKey))
  const n = new DataView(digest.buffer, digest.byteOffset, 4).getUint32(0)
  return String(n % 1_000_000).padStart(6, '0')
}

/** `123456` → `123 456`, as people compare it. */
export function formatLinkCode(code: string): string {
  return `${code.slice(0, 3)} ${code.slice(3)}`
}
