// An attachment to a group (docs/PROTOCOL.md "Attachment payloads"): one upload to the DHT
// serves every member; the pointer travels as a group payload (sender keys).
import { createHash, randomBytes } from 'node:crypto'
import t from 'tap'
import { attachmentCiphertextSize, type PassageClient } from '@passage/sdk'
import { startClient, testnet, tmpHome, until } from '@passage/sdk/testing'

// About 55 s alone here (half of it the group state reaching 49 members); more under load.
t.setTimeout(300_000)

const N = Number(process.env.ATTACH_GROUP_N ?? 50)
/** Members working at once (they share this process's one thread). */
const WAVE = 8
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

/** Runs `fn` over `items`, `width` at a time. */
async function inWaves<T, R>(items: T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = []
  for (let i = 0; i < items.length; i += width) {
    out.push(...(await Promise.all(items.slice(i, i + width).map(fn))))
  }
  return out
}

t.test(`a group of ${N}: the sender uploads once, every member gets the file`, async (t) => {
  let putBytes = 0
  let putEnvelopes = 0
  const net = await testnet(t, 8, {
    node: {
      metrics: {
        onMailbox(event, count, bytes) {
          if (event !== 'put') return
          putBytes += bytes
          putEnvelopes += count
        },
      },
    },
  })
  const started = Date.now()
  const phase = (what: string) => t.comment(`${what}: ${Date.now() - started} ms`)
  const alice = await startClient(t, net, tmpHome(t, 'alice'), { listen: false })
  const members: PassageClient[] = await inWaves(
    Array.from({ length: N - 1 }, (_, i) => i),
    8,
    (i) => startClient(t, net, tmpHome(t, `m${i}`), { listen: false }),
  )
  phase('clients started')
  for (const m of members) await alice.contacts.add(m.contactUri)
  const group = await alice.groups.create(
    '写真 📷',
    members.map((m) => m.textId),
  )
  phase('group created')
  await until(
    async () => {
      const known = await inWaves(members, WAVE, async (m) => {
        await m.fetchInbox()
        return (await m.groups.list()).length === 1
      })
      return known.every(Boolean)
    },
    'every member holds the group',
    { ms: 60_000 },
  )

  phase('group known')
  // A text first (it hands out Alice's sender key): what one group payload's fan-out puts.
  let bytesBefore = putBytes
  let envelopesBefore = putEnvelopes
  await alice.groups.send(group.id, 'hello')
  const keysBytes = putBytes - bytesBefore
  bytesBefore = putBytes
  envelopesBefore = putEnvelopes
  await alice.groups.send(group.id, 'a photo next')
  const textBytes = putBytes - bytesBefore
  const textEnvelopes = putEnvelopes - envelopesBefore
  t.ok(keysBytes > textBytes, 'the first text carried the sender keys')

  const file = randomBytes(256 * 1024)
  bytesBefore = putBytes
  envelopesBefore = putEnvelopes
  const sent = await alice.sendAttachment(group.id, {
    bytes: file,
    contentType: 'image/gif',
    caption: 'みんなへ',
  })
  const ciphertext = attachmentCiphertextSize(file.byteLength)
  const chunks = Math.ceil(ciphertext / 65_536)
  t.equal(sent.attachment?.state, 'available')
  t.ok(sent.attachment!.expiresAt > 0, 'in the DHT')
  const put = putBytes - bytesBefore
  const envelopes = putEnvelopes - envelopesBefore
  // Chunks: one upload on ≤ 5 replicas; besides, the pointer's fan-out, which costs what a
  // text's does (one small envelope per member device on its mailbox's replicas), not the file.
  const pointers = textEnvelopes * 1024 // a pointer's envelope is under 1 KiB (no preview here)
  t.ok(put >= ciphertext * 3, `chunks on ≥ 3 replicas (${put} bytes put)`)
  t.ok(
    put <= ciphertext * 5 + pointers,
    `bytes put ≈ size × replicas + pointers, not × ${N}: ${(put / ciphertext).toFixed(1)} × the file (a text's fan-out: ${textBytes})`,
  )
  t.ok(
    envelopes <= chunks * 5 + textEnvelopes,
    `${envelopes} envelopes: ${chunks} chunks × ≤ 5 replicas + ${textEnvelopes} as for a text`,
  )

  phase('uploaded')
  const got = await inWaves(members, WAVE, async (m) => {
    await m.fetchInbox()
    const [message] = await m.history(group.id, { limit: 1 })
    if (message?.id !== sent.id) return 'no pointer'
    if (message.text !== 'みんなへ' || message.attachment?.state !== 'available')
      return 'bad pointer'
    return sha256(await m.attachments.fetch(sent.id))
  })
  phase('fetched')
  t.same(new Set(got), new Set([sha256(file)]), `all ${N - 1} members have the same bytes`)
  t.equal(putBytes - bytesBefore, put, 'fetching put nothing')
})
