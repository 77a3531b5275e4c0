// docs/PROTOCOL.md against the code, for what is not a byte vector of its own: the flags
// table of "Datagrams", the record-type table, the Signal addresses, unique section names, and
// no references a reader without this repository cannot follow.
import t from 'tap'
import {
  Identity,
  KyberKeyPartRecordType,
  MemorySignalStorage,
  PROOF_MAC_BYTES,
  RecordType,
  SIGNATURE_BYTES,
  decodeMessage,
  encodeMessage,
  type DhtMessage,
  type MessageBody,
} from '@passage/sdk'
import * as sdk from '@passage/sdk'
import { LibsignalSession, libsignalKeys } from '@passage/sdk/node'
import * as sdkNode from '@passage/sdk/node'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Flag } from '../src/core/dht/messages.js'
import {
  hexVector,
  jsonVector,
  protocolHeadings,
  readProtocolSection,
} from './helpers/protocol-doc.js'
import { alice, server, TOKEN, TXID } from './dht/samples.js'

const DOC = readFileSync(fileURLToPath(new URL('../../docs/PROTOCOL.md', import.meta.url)), 'utf8')

/** The rows of the first Markdown table after `header` in `text`, as cells. */
function tableAfter(text: string, header: RegExp): string[][] {
  const lines = text.split('\n')
  const start = lines.findIndex((l) => header.test(l))
  if (start < 0) throw new Error(`no table with the header ${header}`)
  const rows: string[][] = []
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break
    rows.push(
      line
        .slice(1, -1)
        .split(' | ')
        .map((c) => c.trim()),
    )
  }
  return rows
}

const hex8 = (n: number) => `0x${n.toString(16).padStart(2, '0')}`

t.test('one table gives every DHT flag and the proof size each carries', async (t) => {
  const datagrams = readProtocolSection('### Datagrams')
  t.equal(
    DOC.match(/^\| flag +\|/gm)?.length,
    1,
    'the document has one flags table, in "Datagrams"',
  )
  const rows = tableAfter(datagrams, /^\| flag +\| name/)
  const documented = new Map(rows.map((r) => [r[0]!.replace(/`/g, ''), r]))
  t.same(
    [...documented.keys()].sort(),
    Object.values(Flag).map(hex8).sort(),
    'every flag bit the code knows, and no other',
  )
  const proofCell = (flag: number) => documented.get(hex8(flag))?.[4] ?? ''
  t.match(proofCell(Flag.hasProof), `${SIGNATURE_BYTES} bytes`, 'a signature proof: 64 bytes')
  t.match(proofCell(Flag.mac), `${PROOF_MAC_BYTES} bytes`, 'a MAC proof: 32 bytes')

  // Every header the encoder can write: each flag byte is listed among the combinations the
  // document names, and the proof has the size the table gives.
  const emitted = { request: new Set<string>(), response: new Set<string>() }
  const bodies: Record<'request' | 'response', MessageBody> = {
    request: { type: 'ping' },
    response: { type: 'pong', observed: { host: '127.0.0.1', port: 7401 }, token: TOKEN },
  }
  const variants: { side: 'request' | 'response'; want: boolean; mac: boolean; proof: number }[] =
    []
  for (const want of [false, true]) {
    for (const mac of [false, true]) variants.push({ side: 'request', want, mac, proof: 0 })
  }
  for (const proof of [0, SIGNATURE_BYTES, PROOF_MAC_BYTES]) {
    variants.push({ side: 'response', want: false, mac: proof === PROOF_MAC_BYTES, proof })
  }
  for (const v of variants) {
    for (const client of [false, true]) {
      const msg = {
        ...bodies[v.side],
        txid: TXID,
        senderKey: server.publicKey,
        client,
        wantProof: v.want,
        proof: v.proof === 0 ? undefined : new Uint8Array(v.proof),
        mac: v.mac,
      } as DhtMessage
      const bytes = encodeMessage(msg)
      const flags = hex8(bytes[3]!)
      emitted[v.side].add(flags)
      const bare = encodeMessage({ ...msg, proof: undefined, mac: false })
      t.equal(
        bytes.length - bare.length,
        v.proof,
        `${v.side} ${flags}: a proof of ${v.proof} bytes`,
      )
      t.equal(decodeMessage(bytes).proof?.length ?? 0, v.proof, `${v.side} ${flags} decodes`)
    }
  }
  const named = (side: string) => {
    const sentence = new RegExp(`${side} ((?:\`0x[0-9a-f]{2}\`(?:, | or |\\s)*)+)`).exec(
      datagrams.replace(/\n/g, ' '),
    )
    return [...(sentence?.[1] ?? '').matchAll(/`(0x[0-9a-f]{2})`/g)].map((m) => m[1]!).sort()
  }
  t.same(named('requests carry flags'), [...emitted.request].sort(), 'request flag bytes')
  t.same(named('and responses'), [...emitted.response].sort(), 'response flag bytes')

  // The ping back that a node must answer: want-proof and mac.
  const pingBack = decodeMessage(hexVector('dht.pingBack'))
  t.equal(hexVector('dht.pingBack')[3], Flag.wantProof | Flag.mac)
  t.match(pingBack, { type: 'ping', wantProof: true, mac: true, client: false })
  t.same(pingBack.senderKey, server.publicKey)
})

t.test('the record-type table lists every record type the code uses', async (t) => {
  const section = readProtocolSection('## 4. Signed records')
  const rows = tableAfter(section, /^\| type +\| record/)
  const documented = rows.map((r) => Number(r[0])).sort((a, b) => a - b)
  const used = [...Object.values(RecordType), ...Object.values(KyberKeyPartRecordType)]
  t.same(
    documented,
    used.sort((a, b) => a - b),
    'types 1 to 5, 16 and 17',
  )
})

t.test('no two sections share a name', async (t) => {
  const names = protocolHeadings().map((h) =>
    h
      .replace(/^#+ /, '')
      .replace(/^\d+\. /, '')
      .toLowerCase(),
  )
  const twice = names.filter((n, i) => names.indexOf(n) !== i)
  t.same(twice, [], 'every heading is unique')
})

t.test('the document names no implementation file or function', async (t) => {
  const prose = DOC.replace(/<!--[\s\S]*?-->/g, '')
  t.same(
    prose.match(/[\w./-]+\.tsx?\b|\b(?:sdk|server|cli)\/[\w/.-]+|\.\.\/[\w/.-]+/g) ?? [],
    [],
    'no source paths',
  )
  // Names the document defines itself (`name = …` in a formula) are its own, not the code's.
  const defined = new Set([...prose.matchAll(/^(\w+)\s+=/gm)].map((m) => m[1]))
  const exported = [...Object.keys(sdk), ...Object.keys(sdkNode)].filter((n) =>
    /[a-z][A-Z]|^[A-Z][A-Z0-9_]{3,}$/.test(n),
  )
  const named = exported.filter((n) => !defined.has(n) && new RegExp(`\\b${n}\\b`).test(prose))
  t.same(named, [], 'no function or constant of the SDK by name')
})

t.test('Signal addresses: the account text ID and the device, for remote and local', async (t) => {
  const documented =
    jsonVector<Record<string, { name: string; deviceId: number }>>('signal.addresses')
  const phone = Identity.generate(libsignalKeys)
  const sessions = {
    alice: await LibsignalSession.open({ identity: alice, storage: new MemorySignalStorage() }),
    alicePhone: await LibsignalSession.open({
      identity: phone,
      storage: new MemorySignalStorage(),
      deviceId: 2,
      accountKey: alice.publicKey,
    }),
  }
  for (const [who, session] of Object.entries(sessions)) {
    t.same({ name: session.address.name, deviceId: session.address.deviceId }, documented[who], who)
  }
})
