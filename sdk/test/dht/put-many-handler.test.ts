// A replica's answer to `mailbox-put-many` (docs/PROTOCOL.md, "Mailboxes", "Several envelopes
// in one put"), over real UDP on 127.0.0.1: each envelope is handled as a single put of it
// would be and gets its own result; one refused does not refuse the others; the token and the
// count refuse the whole request. The refusal rows of put-many in the table are the scenarios
// below (as mailbox-refusals.test.ts does for the other rows).
import t from 'tap'
import {
  DhtNode,
  Identity,
  MAX_PUT_MANY_ENVELOPES,
  ManualClock,
  decodeMessage,
  encodeMessage,
  envelopeIdOf,
  mailboxKeyFor,
  toHex,
  utf8,
  type Bytes,
  type DhtMessage,
  type LookupNode,
  type MailboxQuota,
  type PutManyEnvelope,
} from '@passage/sdk'
import { bindUdpSocket, libsignalKeys } from '@passage/sdk/node'
import { readProtocolSection } from '../helpers/protocol-doc.js'

const T0 = 1_764_140_000_000
const DAY_S = 86_400
const ANSWER_WAIT_MS = 3_000 // bounds a lost datagram; loopback answers in milliseconds
const ROOMY: MailboxQuota = { maxCount: 100, maxBytes: 1 << 24, maxSourceBytes: 1 << 26 }

type Host = Pick<typeof t, 'teardown' | 'match'>

/** A replica and a client node that found it (with its write token for the client). */
async function setup(t: Host, quota: MailboxQuota = ROOMY) {
  const clock = new ManualClock(T0)
  const replica = new DhtNode({
    identity: Identity.generate(libsignalKeys),
    socket: await bindUdpSocket('127.0.0.1', 0),
    clock,
    quota,
  })
  t.teardown(() => replica.destroy())
  const client = new DhtNode({
    identity: Identity.generate(libsignalKeys),
    socket: await bindUdpSocket('127.0.0.1', 0),
    clock,
    client: true,
  })
  t.teardown(() => client.destroy())
  await client.bootstrap([replica.address()])
  const found = await client.lookup(replica.id)
  const target = found.closest.find((n) => toHex(n.id) === toHex(replica.id))
  if (!target) throw new Error('the client did not find the replica')
  return { replica, client, target, clock }
}
type Setup = Awaited<ReturnType<typeof setup>>

function envelope(recipient: Uint8Array, text: string, ttlSeconds = 14 * DAY_S): PutManyEnvelope {
  const mailboxKey = mailboxKeyFor(recipient)
  const data = utf8(text)
  return { mailboxKey, envelopeId: envelopeIdOf(mailboxKey, data), ttlSeconds, data }
}

function putMany(s: Setup, envelopes: PutManyEnvelope[], to: LookupNode = s.target) {
  return s.client.request(
    to,
    { type: 'mailbox-put-many', token: to.token, envelopes },
    { expectId: to.id },
  )
}

/** Sends raw bytes to the replica from a fresh socket; resolves with the decoded answer. */
async function sendRaw(t: Host, s: Setup, bytes: Uint8Array): Promise<DhtMessage> {
  const socket = await bindUdpSocket('127.0.0.1', 0)
  t.teardown(() => socket.close())
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no answer')), ANSWER_WAIT_MS)
    socket.onMessage((answer) => {
      clearTimeout(timer)
      resolve(decodeMessage(answer))
    })
    socket.send(bytes, s.replica.address().port, '127.0.0.1').catch(reject)
  })
}

t.test('each envelope is stored in its own mailbox, and answered in order', async (t) => {
  const s = await setup(t)
  const alice = Identity.generate(libsignalKeys)
  const bob = Identity.generate(libsignalKeys)
  const envelopes = [envelope(alice.publicKey, 'a1'), envelope(bob.publicKey, 'b1')]
  envelopes.push(envelope(alice.publicKey, 'a2'))
  const ack = await putMany(s, envelopes)
  t.same(ack.type === 'mailbox-put-acks' && ack.results, [
    { stored: true, code: 0 },
    { stored: true, code: 0 },
    { stored: true, code: 0 },
  ])
  const again = await putMany(s, envelopes)
  t.same(
    again.type === 'mailbox-put-acks' && again.results.map((r) => r.stored),
    [true, true, true],
    'a resend is answered stored, changing nothing',
  )
  t.equal((await s.replica.mailboxStore.stats(T0)).envelopes, 3, 'three envelopes, once each')
  const aliceMail = (await s.client.fetchMailbox(alice)).map((e) =>
    new TextDecoder().decode(e.data),
  )
  t.same(aliceMail.sort(), ['a1', 'a2'], "alice's mailbox holds her two")
  const bobMail = await s.client.fetchMailbox(bob)
  t.same(
    bobMail.map((e) => new TextDecoder().decode(e.data)),
    ['b1'],
    "bob's holds his",
  )
  // A deleted envelope (a tombstone) is answered stored and not brought back.
  await s.client.deleteEnvelopes(bob, [bobMail[0]!.id])
  const late = await putMany(s, [envelope(bob.publicKey, 'b1')])
  t.same(late.type === 'mailbox-put-acks' && late.results, [{ stored: true, code: 0 }])
  t.same(await s.client.fetchMailbox(bob), [], 'the tombstone holds')
})

t.test('one envelope refused does not refuse the others', async (t) => {
  const s = await setup(t, { ...ROOMY, maxCount: 1 })
  const alice = Identity.generate(libsignalKeys)
  const bob = Identity.generate(libsignalKeys)
  const forged = { ...envelope(bob.publicKey, 'forged'), envelopeId: new Uint8Array(16) as Bytes }
  const ack = await putMany(s, [
    envelope(alice.publicKey, 'first'),
    envelope(alice.publicKey, 'over the mailbox quota'),
    forged,
    envelope(bob.publicKey, 'too long a life', 31 * DAY_S),
    envelope(bob.publicKey, 'fine'),
  ])
  t.same(ack.type === 'mailbox-put-acks' && ack.results, [
    { stored: true, code: 0 },
    { stored: false, code: 10 },
    { stored: false, code: 1 },
    { stored: false, code: 1 },
    { stored: true, code: 0 },
  ])
  t.equal((await s.client.fetchMailbox(alice)).length, 1)
  t.equal((await s.client.fetchMailbox(bob)).length, 1)
})

t.test('the per-source quota counts the earlier envelopes of the same request', async (t) => {
  const s = await setup(t, { ...ROOMY, maxSourceBytes: 10 })
  const alice = Identity.generate(libsignalKeys)
  const ack = await putMany(s, [
    envelope(alice.publicKey, '12345'),
    envelope(alice.publicKey, '67890'),
    envelope(alice.publicKey, 'x'),
  ])
  t.same(ack.type === 'mailbox-put-acks' && ack.results, [
    { stored: true, code: 0 },
    { stored: true, code: 0 },
    { stored: false, code: 11 },
  ])
})

/** The put-many rows of the refusal table, and a request breaking each. */
const SCENARIOS: Record<string, (t: Host, s: Setup) => Promise<DhtMessage>> = {
  "the token is not the replica's write token for the sender's address": async (_t, s) =>
    putMany(s, [envelope(s.client.identity.publicKey, 'x')], {
      ...s.target,
      token: new Uint8Array(16) as Bytes,
    }).catch((error: { code?: string }) => ({ type: 'error', code: error.code }) as never),
  '`n` is 0 or over 16': async (t, s) => {
    const bytes = encodeMessage({
      type: 'mailbox-put-many',
      txid: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8) as Bytes,
      senderKey: s.client.identity.publicKey,
      client: true,
      wantProof: false,
      proof: undefined,
      token: s.target.token,
      envelopes: [envelope(s.client.identity.publicKey, 'x')],
    })
    // The same request with a count of 0 and no envelope: its layout is sound.
    const countAt = 45 + 1 + s.target.token.byteLength
    const empty = bytes.slice(0, countAt + 1)
    empty[countAt] = 0
    const none = await sendRaw(t, s, empty)
    t.match(none, { type: 'error', code: 1 }, 'no envelope: malformed')
    // 17 envelopes.
    const many = Array.from({ length: MAX_PUT_MANY_ENVELOPES + 1 }, (_, i) =>
      envelope(s.client.identity.publicKey, String(i)),
    )
    const head = bytes.slice(0, countAt)
    const parts = many.map((e) => {
      const entry = new Uint8Array(20 + 16 + 4 + 2 + e.data.byteLength)
      const view = new DataView(entry.buffer)
      entry.set(e.mailboxKey, 0)
      entry.set(e.envelopeId, 20)
      view.setUint32(36, e.ttlSeconds)
      view.setUint16(40, e.data.byteLength)
      entry.set(e.data, 42)
      return entry
    })
    const over = new Uint8Array([...head, many.length, ...parts.flatMap((p) => [...p])])
    return sendRaw(t, s, over)
  },
}

t.test('the whole request is refused for its token or its count, as documented', async (t) => {
  const section = readProtocolSection('### Mailboxes')
  const rows = [...section.matchAll(/^\| put-many +\| (.+?) +\| error (\d+) [a-z ]+\|$/gm)].map(
    (m) => ({ rule: m[1]!, code: Number(m[2]) }),
  )
  t.same(rows.map((r) => r.rule).sort(), Object.keys(SCENARIOS).sort(), 'the rows are tested')
  for (const row of rows) {
    await t.test(row.rule, async (t) => {
      const s = await setup(t)
      const answer = await SCENARIOS[row.rule]!(t, s)
      if (row.code === 9) t.match(answer, { type: 'error', code: 'PASSAGE_ERR_BAD_TOKEN' })
      else t.match(answer, { type: 'error', code: row.code })
      t.equal((await s.replica.mailboxStore.stats(T0)).envelopes, 0, 'nothing stored')
    })
  }
})
