import { base64url, hex } from '@scure/base'
import { MalformedError } from '../errors.js'
import { host } from '../runtime/host.js'

/** Plain bytes, backed by an ArrayBuffer (what libsignal and the codecs take). */
export type Bytes = Uint8Array<ArrayBuffer>

/** Copies any byte view (a Node.js `Buffer` included) into plain {@link Bytes}. */
export function toBytes(view: Uint8Array): Bytes {
  const out = new Uint8Array(view.byteLength)
  out.set(view)
  return out
}

export function concatBytes(...parts: Uint8Array[]): Bytes {
  let length = 0
  for (const part of parts) length += part.byteLength
  const out = new Uint8Array(length)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.byteLength
  }
  return out
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  let diff = 0
  for (let i = 0; i < a.byteLength; i++) diff |= a[i]! ^ b[i]!
  return diff === 0
}

export function toHex(bytes: Uint8Array): string {
  return hex.encode(bytes)
}

export function fromHex(text: string, what = 'hex'): Bytes {
  try {
    return toBytes(hex.decode(text.toLowerCase()))
  } catch (cause) {
    throw new MalformedError(`${what} is not valid hex`, { cause })
  }
}

/** Base64url without padding (RFC 4648 §5): the text form of keys and signatures. */
export function toBase64Url(bytes: Uint8Array): string {
  return base64url.encode(bytes).replace(/=+$/, '')
}

export function fromBase64Url(text: string, what = 'base64url'): Bytes {
  const padded = text + '='.repeat((4 - (text.length % 4)) % 4)
  try {
    return toBytes(base64url.decode(padded))
  } catch (cause) {
    throw new MalformedError(`${what} is not valid base64url`, { cause })
  }
}

const encoder = new host.TextEncoder()
const decoder = new host.TextDecoder('utf-8', { fatal: true })

export function utf8(text: string): Bytes {
  return encoder.encode(text) as Bytes
}

export function fromUtf8(bytes: Uint8Array, what = 'text'): string {
  try {
    return decoder.decode(bytes)
  } catch (cause) {
    throw new MalformedError(`${what} is not valid UTF-8`, { cause })
  }
}
