import { utf8 } from '../wire/bytes.js'
import { MAX_INTRO_NAME_BYTES } from './chat-payload.js'

/**
 * What is removed from a name another account claims (docs/PROTOCOL.md, "Intro"): controls
 * (Cc), format characters (Cf: bidirectional overrides, invisible marks), line and paragraph
 * separators, private use and unassigned code points. The zero-width joiner of joined emoji
 * (U+200D, a Cf) is kept by {@link cleanDisplayName}.
 */
const REMOVED = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cn}]/gu
const ZWJ = '\u200d'

/**
 * A display name as Passage keeps and shows it, from any input (an `intro`, a URI, the user):
 * NFC, without controls and invisible format characters (joined emoji keep their joiner),
 * white space collapsed to single spaces and trimmed, cut to {@link MAX_INTRO_NAME_BYTES}
 * UTF-8 bytes at a grapheme boundary. CJK and emoji stay. `undefined` when nothing is left.
 *
 * @example
 * cleanDisplayName('  Mallory\u202e\n(admin) ') // 'Mallory (admin)'
 */
export function cleanDisplayName(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined
  const cleaned = raw
    .normalize('NFC')
    .replace(/\s+/gu, ' ')
    .replace(REMOVED, (c) => (c === ZWJ ? c : ''))
    .replace(/ {2,}/g, ' ')
    .trim()
  if (cleaned === '') return undefined
  if (utf8(cleaned).byteLength <= MAX_INTRO_NAME_BYTES) return cleaned
  let out = ''
  let bytes = 0
  for (const { segment } of new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(
    cleaned,
  )) {
    const size = utf8(segment).byteLength
    if (bytes + size > MAX_INTRO_NAME_BYTES) break
    out += segment
    bytes += size
  }
  return out.trim() || undefined
}
