import { KeyMismatchError, MalformedError } from '../errors.js'
import { fromBase64Url, toBase64Url, type Bytes } from '../wire/bytes.js'
import { formDecode, percentEncode } from '../wire/form.js'
import { nodeIdFromPublicKey, PUBLIC_KEY_BYTES, type NodeId } from './node-id.js'
import { encodeTextId, parseTextId } from './text-id.js'

/** What a `passage:` URI carries: enough to add a contact with no lookup. */
export interface ContactCard {
  id: NodeId
  textId: string
  publicKey: Bytes
  /** A display name the owner suggests; never trusted for identity. */
  name?: string
}

const SCHEME = 'passage:'

/**
 * `passage:<text-id>?key=<base64url public key>[&name=<name>]`, the content of a QR code.
 * The key makes the card self-certifying: its hash must be the ID.
 */
export function encodeContactUri(card: { publicKey: Uint8Array; name?: string }): string {
  const textId = encodeTextId(nodeIdFromPublicKey(card.publicKey))
  const query = `key=${percentEncode(toBase64Url(card.publicKey))}`
  return `${SCHEME}${textId}?${card.name ? `${query}&name=${percentEncode(card.name)}` : query}`
}

/** Parses a `passage:` URI; throws {@link KeyMismatchError} when the key is not the ID's. */
export function parseContactUri(uri: string): ContactCard {
  const trimmed = uri.trim()
  if (!trimmed.toLowerCase().startsWith(SCHEME)) {
    throw new MalformedError(`not a Passage URI: it must start with "${SCHEME}"`)
  }
  const rest = trimmed.slice(SCHEME.length).replace(/^\/\//, '')
  const [idPart = '', query = ''] = rest.split('?', 2)
  const id = parseTextId(idPart)
  const params = formDecode(query)
  const key = params.get('key')
  if (!key) throw new MalformedError('the Passage URI has no key= parameter')
  const publicKey = fromBase64Url(key, 'key')
  if (publicKey.byteLength !== PUBLIC_KEY_BYTES) {
    throw new MalformedError(`key must be ${PUBLIC_KEY_BYTES} bytes`)
  }
  const derived = nodeIdFromPublicKey(publicKey)
  if (encodeTextId(derived) !== encodeTextId(id)) throw new KeyMismatchError()
  const name = params.get('name') ?? undefined
  return { id, textId: encodeTextId(id), publicKey, ...(name ? { name } : {}) }
}
