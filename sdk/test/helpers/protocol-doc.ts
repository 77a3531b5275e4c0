import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { fromHex, type Bytes } from '@passage/sdk'

const DOC = fileURLToPath(new URL('../../../docs/PROTOCOL.md', import.meta.url))

/**
 * Reads the test vectors of docs/PROTOCOL.md: a fenced block preceded by
 * `<!-- vector: NAME -->` (hex), `<!-- text: NAME -->` or `<!-- json: NAME -->`.
 */
export function readProtocolDoc(): Map<string, { kind: string; content: string }> {
  const text = readFileSync(DOC, 'utf8')
  const found = new Map<string, { kind: string; content: string }>()
  const pattern = /<!-- (vector|text|json): ([\w.-]+) -->\s*```\w*\n([\s\S]*?)```/g
  for (const match of text.matchAll(pattern)) {
    const [, kind = '', name = '', content = ''] = match
    if (found.has(name)) throw new Error(`docs/PROTOCOL.md names the vector ${name} twice`)
    found.set(name, { kind, content })
  }
  return found
}

/**
 * The text of one section of docs/PROTOCOL.md: from its heading line (exactly `heading`, e.g.
 * `### Mailboxes`) to the next heading of the same or a higher level.
 */
export function readProtocolSection(heading: string): string {
  const text = readFileSync(DOC, 'utf8')
  const start = text.split('\n').indexOf(heading)
  if (start < 0) throw new Error(`docs/PROTOCOL.md has no heading "${heading}"`)
  const level = heading.indexOf(' ')
  const lines = text.split('\n').slice(start + 1)
  const end = lines.findIndex((l) => /^#+ /.test(l) && l.indexOf(' ') <= level)
  return lines.slice(0, end < 0 ? undefined : end).join('\n')
}

/** Every heading of docs/PROTOCOL.md, in order (with its `#` marks). */
export function protocolHeadings(): string[] {
  return readFileSync(DOC, 'utf8')
    .split('\n')
    .filter((l) => /^#{1,6} /.test(l))
}

const doc = readProtocolDoc()

function entry(name: string, kind: string): string {
  const found = doc.get(name)
  if (!found || found.kind !== kind) throw new Error(`docs/PROTOCOL.md has no ${kind} "${name}"`)
  return found.content
}

/** The bytes of a hex vector (spaces and line breaks ignored). */
export function hexVector(name: string): Bytes {
  return fromHex(entry(name, 'vector').replace(/\s+/g, ''), name)
}

/** A text vector, trimmed. */
export function textVector(name: string): string {
  return entry(name, 'text').trim()
}

/** A JSON vector, parsed. */
export function jsonVector<T>(name: string): T {
  return JSON.parse(entry(name, 'json')) as T
}
