// IP literals for the DHT codec and the routing table's subnet limits: parsed and formatted by
// hand, no node:net (the codec stays portable).
import type { Bytes } from '../wire/bytes.js'

/** The 4 bytes of a dotted-quad IPv4 literal, or undefined. */
export function parseIpv4(host: string): Bytes | undefined {
  // Hand-rolled (no regex, no split): it runs for every address written.
  if (host.length < 7 || host.length > 15) return undefined
  const out = new Uint8Array(4)
  let part = 0
  let value = 0
  let digits = 0
  for (let i = 0; i <= host.length; i++) {
    const c = i < host.length ? host.charCodeAt(i) : 46 // a final '.'
    if (c === 46) {
      if (digits === 0 || part > 3) return undefined
      out[part++] = value
      value = 0
      digits = 0
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return undefined // no leading zeros
      value = value * 10 + (c - 48)
      if (++digits > 3 || value > 255) return undefined
    } else return undefined
  }
  return part === 4 ? out : undefined
}

/** The dotted quad of a 32-bit IPv4 address. */
export function formatIpv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 0xff}.${(value >>> 8) & 0xff}.${value & 0xff}`
}

/** The 16 bytes of an IPv6 literal (with `::` and an optional embedded IPv4), or undefined. */
export function parseIpv6(host: string): Bytes | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(host) || host.length > 45) return undefined
  const halves = host.split('::')
  if (halves.length > 2) return undefined
  const parseGroups = (text: string): number[] | undefined => {
    if (text === '') return []
    const groups: number[] = []
    const parts = text.split(':')
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIpv4(p)
        if (!v4) return undefined
        groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!)
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined
        groups.push(parseInt(p, 16))
      }
    }
    return groups
  }
  const head = parseGroups(halves[0]!)
  const tail = halves.length === 2 ? parseGroups(halves[1]!) : []
  if (!head || !tail) return undefined
  const missing = 8 - head.length - tail.length
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined
  const groups = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail]
  const out = new Uint8Array(16)
  groups.forEach((g, i) => {
    out[2 * i] = g >>> 8
    out[2 * i + 1] = g & 0xff
  })
  return out
}

/** The RFC 5952 text of a 16-byte IPv6 address. */
export function formatIpv6(b: Uint8Array): string {
  const groups: number[] = []
  for (let i = 0; i < 8; i++) groups.push((b[2 * i]! << 8) | b[2 * i + 1]!)
  // RFC 5952: compress the longest run (≥ 2) of zero groups.
  let bestStart = -1
  let bestLen = 0
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  const hexes = groups.map((g) => g.toString(16))
  if (bestLen < 2) return hexes.join(':')
  return `${hexes.slice(0, bestStart).join(':')}::${hexes.slice(bestStart + bestLen).join(':')}`
}
