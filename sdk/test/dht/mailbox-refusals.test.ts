// Every refusal of a mailbox request is answered with the wire error docs/PROTOCOL.md lists
// for it ("Mailboxes", table "Refusals"), over real UDP on 127.0.0.1: a raw client sends each
// violation to a real replica and reads the answer. The table's rows and the scenarios below
// must be the same list, so a refusal can be neither undocumented nor untested. Also: a list
// page's order and `expiresAt` units, as the vector `dht.mailboxListTwo` shows them.
import t from 'tap'
import {
  DhtNode,
  Identity,
  ManualClock,
  decodeMessage,
  encodeMessage,
  UNPROVEN_PAD_BYTES,
  envelopeIdOf,
  errorFromWire,
  mailboxAuthInput,
  mailboxKeyFor,
  toHex,
  utf8,
  type Bytes,
  type DhtMessage,
  type MailboxQuota,
  type MessageBody,
} from '@passage/sdk'
import { bindUdpSocket, libsignalKeys } from '@passage/sdk/node'
import { hexVector, readProtocolSection } from '../helpers/protocol-doc.js'
import { alice, server, TXID } from './samples.js'

/** What these helpers use of a tap test. */
type Host = Pick<typeof t, 'teardown' | 'match'>

const T0 = 1_764_140_000_000
const DAY_S = 86_400
/** A replica answers on loopback within milliseconds; this only bounds a lost datagram. */
const ANSWER_WAIT_MS = 3_000
const ROOMY: MailboxQuota = { maxCount: 100, maxBytes: 1 << 24, maxSourceBytes: 1 << 26 }

/** The refusal table of the "Mailboxes" section: request kinds, the rule, the error number. */
function documentedRefusals(): { request: string; rule: string; code: number }[] {
  const section = readProtocolSection('### Mailboxes')
  const rows = [...section.matchAll(/^\| ([a-z, ]+?) +\| (.+?) +\| error (\d+) [a-z ]+\|$/gm)]
  return rows.map((m) => ({ request: m[1]!, rule: m[2]!, code: Number(m[3]) }))
}

/** A client on a raw UDP socket: sends hand-made datagrams, matches answers by txid. */
async function rawClient(t: Host, identity: Identity) {
  const socket = await bindUdpSocket('127.0.0.1', 0)
  t.teardown(() => socket.close())
  const waiting = new Map<string, (m: DhtMessage) => void>()
  socket.onMessage((bytes) => {
    const msg = decodeMessage(bytes)
    waiting.get(toHex(msg.txid))?.(msg)
  })
  let n = 0
  const nextTxid = () => Uint8Array.of(0xee, 0, 0, 0, 0, 0, n >> 8, n++ & 0xff) as Bytes
  /** Sends a datagram (its txid at bytes 4..12) and resolves with the answer. */
  const send = (to: DhtNode, bytes: Uint8Array): Promise<DhtMessage> => {
    const key = toHex(bytes.subarray(4, 12))
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(key)
        reject(new Error(`no answer from the replica within ${ANSWER_WAIT_MS} ms`))
      }, ANSWER_WAIT_MS)
      waiting.set(key, (m) => {
        clearTimeout(timer)
        waiting.delete(key)
        resolve(m)
      })
      socket.send(bytes, to.address().port, '127.0.0.1').catch(reject)
    })
  }
  // As the SDK does (docs/PROTOCOL.md, "DHT amplification guard"): a first ping padded to the
  // size of its answer; every request after it proves the endpoint with the replica's token.
  const proof: { token: Bytes | undefined } = { token: undefined }
  const encode = (body: MessageBody) =>
    encodeMessage(
      {
        ...body,
        txid: nextTxid(),
        senderKey: identity.publicKey,
        client: true,
        wantProof: false,
        proof: undefined,
        addressToken: proof.token,
      } as DhtMessage,
      undefined,
      proof.token || body.type !== 'ping' ? 0 : UNPROVEN_PAD_BYTES.ping,
    )
  return { send, encode, nextTxid, identity, proof }
}
type Client = Awaited<ReturnType<typeof rawClient>>

/** A mailbox-put laid out by hand: the SDK's encoder refuses the fields these tests break. */
function rawPut(
  client: Client,
  f: {
    token: Uint8Array
    mailboxKey: Uint8Array
    envelopeId: Uint8Array
    ttlSeconds: number
    totalSize: number
    index: number
    count: number
    data: Uint8Array
  },
): Uint8Array {
  const out = new Uint8Array(45 + 1 + f.token.length + 20 + 16 + 12 + 2 + f.data.length)
  const view = new DataView(out.buffer)
  out.set([0x50, 0x01, 0x10, 0x01])
  out.set(client.nextTxid(), 4)
  out.set(client.identity.publicKey, 12)
  let at = 45
  out[at++] = f.token.length
  out.set(f.token, at)
  at += f.token.length
  out.set(f.mailboxKey, at)
  out.set(f.envelopeId, at + 20)
  at += 36
  view.setUint32(at, f.ttlSeconds)
  view.setUint32(at + 4, f.totalSize)
  view.setUint16(at + 8, f.index)
  view.setUint16(at + 10, f.count)
  view.setUint16(at + 12, f.data.length)
  out.set(f.data, at + 14)
  return out
}

/** Where a request's body starts: after the header and its address token (flag 0x10). */
function bodyAt(s: Setup): number {
  return 45 + 1 + s.token.byteLength
}

interface Setup {
  replica: DhtNode
  client: Client
  token: Bytes
  clock: ManualClock
}

async function setup(t: Host, quota: MailboxQuota = ROOMY): Promise<Setup> {
  const clock = new ManualClock(T0)
  const replica = new DhtNode({
    identity: Identity.generate(libsignalKeys),
    socket: await bindUdpSocket('127.0.0.1', 0),
    clock,
    quota,
  })
  t.teardown(() => replica.destroy())
  const client = await rawClient(t, Identity.generate(libsignalKeys))
  const pong = await client.send(replica, client.encode({ type: 'ping' }))
  if (pong.type !== 'pong') throw new Error('expected a pong')
  client.proof.token = pong.token
  return { replica, client, token: pong.token, clock }
}

/** A valid put of `data` (one fragment) into the mailbox of `recipient`, with changes. */
function put(s: Setup, recipient: Uint8Array, data: Uint8Array, changes: object = {}) {
  const mailboxKey = mailboxKeyFor(recipient)
  return rawPut(s.client, {
    token: s.token,
    mailboxKey,
    envelopeId: envelopeIdOf(mailboxKey, data),
    ttlSeconds: 14 * DAY_S,
    totalSize: data.length,
    index: 0,
    count: 1,
    data,
    ...changes,
  })
}

/** A get or delete signed by `owner` for `audience` (the replica's ID unless told). */
function signed(
  s: Setup,
  owner: Identity,
  request:
    | { type: 'mailbox-get'; kind: 'list' | 'read'; envelopeId: Bytes; index: number }
    | { type: 'mailbox-delete'; ids: Bytes[] },
  opts: { audience?: Uint8Array; timestamp?: number; nonce?: Bytes } = {},
): Uint8Array {
  const timestamp = opts.timestamp ?? s.clock.now()
  const nonce = opts.nonce ?? (crypto.getRandomValues(new Uint8Array(16)) as Bytes)
  const input = mailboxAuthInput(opts.audience ?? s.replica.id, timestamp, nonce, request)
  const auth = { ownerKey: owner.publicKey, timestamp, nonce, signature: owner.sign(input) }
  return s.client.encode({ ...request, auth })
}

const zeroId = new Uint8Array(16) as Bytes
const listFromStart = { type: 'mailbox-get', kind: 'list', envelopeId: zeroId, index: 0 } as const

/** Each documented refusal, keyed by its row's rule: makes the request that breaks it. */
const SCENARIOS: Record<string, (t: Host) => Promise<DhtMessage>> = {
  'the envelope is over 64 KiB (`totalSize` over 65536)': async (t) => {
    const s = await setup(t)
    const data = new Uint8Array(1024).fill(7)
    return s.client.send(s.replica, put(s, alice.publicKey, data, { totalSize: 65_537, count: 65 }))
  },
  '`totalSize` is 0': async (t) => {
    const s = await setup(t)
    const empty = new Uint8Array(0)
    return s.client.send(s.replica, put(s, alice.publicKey, empty, { count: 0 }))
  },
  '`count` is not ceil(`totalSize` / 1024)': async (t) => {
    const s = await setup(t)
    return s.client.send(s.replica, put(s, alice.publicKey, utf8('hello'), { count: 2 }))
  },
  '`index` is not below `count`': async (t) => {
    const s = await setup(t)
    const data = new Uint8Array(1000)
    return s.client.send(
      s.replica,
      put(s, alice.publicKey, data, { totalSize: 2000, count: 2, index: 2 }),
    )
  },
  "the fragment's length is not the one its `index` and `totalSize` give": async (t) => {
    const s = await setup(t)
    return s.client.send(s.replica, put(s, alice.publicKey, utf8('hello'), { totalSize: 6 }))
  },
  "the token is not the replica's write token for the sender's address": async (t) => {
    const s = await setup(t)
    const token = new Uint8Array(16)
    return s.client.send(s.replica, put(s, alice.publicKey, utf8('hello'), { token }))
  },
  '`ttlSeconds` is 0 or over 30 days': async (t) => {
    const s = await setup(t)
    const ttlSeconds = 31 * DAY_S
    return s.client.send(s.replica, put(s, alice.publicKey, utf8('hello'), { ttlSeconds }))
  },
  '`totalSize` or `count` differs from earlier fragments of the same envelope': async (t) => {
    const s = await setup(t)
    const envelopeId = new Uint8Array(16).fill(5)
    const first = put(s, alice.publicKey, new Uint8Array(1024), {
      envelopeId,
      totalSize: 2048,
      count: 2,
    })
    const held = await s.client.send(s.replica, first)
    t.match(held, { type: 'mailbox-put-ack', stored: false }, 'the first fragment is held')
    const second = put(s, alice.publicKey, new Uint8Array(1023), {
      envelopeId,
      totalSize: 2047,
      count: 2,
      index: 1,
    })
    return s.client.send(s.replica, second)
  },
  'the replica is reassembling too many envelopes (1024, or 16 MiB) at once': async (t) => {
    const s = await setup(t)
    const fragment = new Uint8Array(1024)
    // 256 first fragments of 64 KiB envelopes hold 16 MiB: the 257th finds no room.
    for (let i = 0; i < 256; i++) {
      const held = await s.client.send(
        s.replica,
        put(s, alice.publicKey, fragment, {
          envelopeId: Uint8Array.of(i, ...new Uint8Array(15)),
          totalSize: 65_536,
          count: 64,
        }),
      )
      if (held.type !== 'mailbox-put-ack') return held
    }
    const over = { envelopeId: new Uint8Array(16).fill(0xff), totalSize: 65_536, count: 64 }
    return s.client.send(s.replica, put(s, alice.publicKey, fragment, over))
  },
  '`envelopeId` is not the ID of the reassembled bytes': async (t) => {
    const s = await setup(t)
    const envelopeId = new Uint8Array(16).fill(1)
    return s.client.send(s.replica, put(s, alice.publicKey, utf8('hello'), { envelopeId }))
  },
  'the mailbox is full (count or bytes)': async (t) => {
    const s = await setup(t, { ...ROOMY, maxCount: 1 })
    const first = await s.client.send(s.replica, put(s, alice.publicKey, utf8('hello')))
    t.match(first, { type: 'mailbox-put-ack', stored: true })
    return s.client.send(s.replica, put(s, alice.publicKey, utf8('world')))
  },
  "the sender's IP address is over its quota": async (t) => {
    const s = await setup(t, { ...ROOMY, maxSourceBytes: 8 })
    const first = await s.client.send(s.replica, put(s, alice.publicKey, utf8('hello')))
    t.match(first, { type: 'mailbox-put-ack', stored: true })
    return s.client.send(s.replica, put(s, server.publicKey, utf8('world')))
  },
  '`kind` is not 0 or 1': async (t) => {
    const s = await setup(t)
    const bytes = signed(s, alice, listFromStart)
    bytes[bodyAt(s) + 33 + 8 + 16 + 64] = 2 // the kind byte, after the auth
    return s.client.send(s.replica, bytes)
  },
  "`timestamp` is more than 60 s from the replica's clock": async (t) => {
    const s = await setup(t)
    return s.client.send(s.replica, signed(s, alice, listFromStart, { timestamp: T0 - 60_001 }))
  },
  'the signature does not verify, or was made for another replica': async (t) => {
    const s = await setup(t)
    // Signed correctly, but for another replica (Server): the audience is not ours.
    return s.client.send(s.replica, signed(s, alice, listFromStart, { audience: server.id }))
  },
  'the (owner key, `nonce`) pair was used before': async (t) => {
    const s = await setup(t)
    const nonce = new Uint8Array(16).fill(9) as Bytes
    const first = await s.client.send(s.replica, signed(s, alice, listFromStart, { nonce }))
    t.match(first, { type: 'mailbox-list' }, 'the first use is answered')
    return s.client.send(s.replica, signed(s, alice, listFromStart, { nonce }))
  },
  'a read names an envelope, or a fragment, the replica does not hold': async (t) => {
    const s = await setup(t)
    const envelopeId = new Uint8Array(16).fill(3) as Bytes
    const read = { type: 'mailbox-get', kind: 'read', envelopeId, index: 0 } as const
    return s.client.send(s.replica, signed(s, alice, read))
  },
  '`n` is 0 or over 32': async (t) => {
    const s = await setup(t)
    const ids = Array.from({ length: 32 }, (_, i) => new Uint8Array(16).fill(i) as Bytes)
    const bytes = signed(s, alice, { type: 'mailbox-delete', ids })
    // The same request naming a 33rd envelope (the count byte follows the auth).
    const longer = new Uint8Array([...bytes, ...new Uint8Array(16).fill(0xaa)])
    longer[bodyAt(s) + 33 + 8 + 16 + 64] = 33
    return s.client.send(s.replica, longer)
  },
}

t.test('every documented mailbox refusal is answered with its documented error', async (t) => {
  const rows = documentedRefusals()
  t.same(
    rows.map((r) => r.rule).sort(),
    Object.keys(SCENARIOS).sort(),
    'the document lists exactly the refusals tested here',
  )
  for (const row of rows) {
    await t.test(`${row.request}: ${row.rule}`, async (t) => {
      const answer = await SCENARIOS[row.rule]!(t)
      t.match(answer, { type: 'error', code: row.code }, `answered error ${row.code}`)
      if (answer.type === 'error') {
        t.type(errorFromWire(answer.code, answer.message), Error, answer.message)
        t.ok(answer.message.length > 0, 'with a reason')
      }
    })
  }
})

t.test('a list page is in ascending envelope ID order, expiresAt in ms', async (t) => {
  const clock = new ManualClock(T0)
  const replica = new DhtNode({
    identity: server,
    socket: await bindUdpSocket('127.0.0.1', 0),
    clock,
  })
  t.teardown(() => replica.destroy())
  const client = await rawClient(t, alice)
  const pong = await client.send(replica, client.encode({ type: 'ping' }))
  if (pong.type !== 'pong') throw new Error('expected a pong')
  client.proof.token = pong.token
  const s: Setup = { replica, client, token: pong.token, clock }
  for (const word of ['hello', 'world']) {
    t.match(await client.send(replica, put(s, alice.publicKey, utf8(word))), { stored: true })
  }
  const page = await client.send(replica, signed(s, alice, listFromStart))
  const asVector = encodeMessage({ ...page, txid: TXID })
  t.equal(toHex(asVector), toHex(hexVector('dht.mailboxListTwo')), 'the documented answer')
})
