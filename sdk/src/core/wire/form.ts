import { host } from '../runtime/host.js'
import { utf8 } from './bytes.js'

// Query values of `passage:` and `passage-link:` URIs (docs/PROTOCOL.md, "Contact URI").
// Written percent-encoded, a space as `%20`: a URI decoder (`decodeURIComponent`) and a form
// decoder (`URLSearchParams`) both read that back exactly, which `+` for a space is not.
// Read as application/x-www-form-urlencoded, as the WHATWG URL standard parses it (`+` is a
// space, as earlier versions wrote it), written out: the core does not assume the host has one.

/** Bytes that stay as they are: `*-._`, digits and ASCII letters. */
function unreserved(b: number): boolean {
  return (
    b === 0x2a ||
    b === 0x2d ||
    b === 0x2e ||
    b === 0x5f ||
    (b >= 0x30 && b <= 0x39) ||
    (b >= 0x41 && b <= 0x5a) ||
    (b >= 0x61 && b <= 0x7a)
  )
}

/** One value, percent-encoded: UTF-8, `*-._` and ASCII letters and digits kept, every other byte `%XX` (a space `%20`). */
export function percentEncode(value: string): string {
  let out = ''
  for (const b of utf8(value)) {
    if (unreserved(b)) out += String.fromCharCode(b)
    else out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

/** A query string's parameters (the first value of each name wins, as `URLSearchParams.get`). */
export function formDecode(query: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const part of query.split('&')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    const name = decodeComponent(eq < 0 ? part : part.slice(0, eq))
    const value = decodeComponent(eq < 0 ? '' : part.slice(eq + 1))
    if (!out.has(name)) out.set(name, value)
  }
  return out
}

/** `+` is a space; `%XX` a byte; a `%` not followed by two hex digits stays as it is. */
function decodeComponent(text: string): string {
  const plain = text.replace(/\+/g, ' ')
  const bytes: number[] = []
  for (let i = 0; i < plain.length; i++) {
    const c = plain.charCodeAt(i)
    const hex = plain.slice(i + 1, i + 3)
    if (c === 0x25 && /^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16))
      i += 2
    } else if (c < 0x80) {
      bytes.push(c)
    } else {
      // A character outside ASCII: its UTF-8 bytes (a lone surrogate becomes U+FFFD).
      const next = plain.charCodeAt(i + 1)
      const pair = c >= 0xd800 && c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff
      const end = pair ? i + 2 : i + 1
      bytes.push(...utf8(plain.slice(i, end)))
      i = end - 1
    }
  }
  // Invalid UTF-8 decodes as the standard says: each bad sequence becomes U+FFFD.
  return lenient.decode(Uint8Array.from(bytes))
}

const lenient = new host.TextDecoder('utf-8', { fatal: false })
