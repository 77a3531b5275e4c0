// Attachments for offline recipients (docs/PROTOCOL.md "Chunks and the capability mailbox",
// "Attachment payloads"): chunks in the DHT for 7 days on several replicas, read back with the
// capability key, checked chunk by chunk; expiry on an injected clock, and a resend.
import { createHash, randomBytes } from 'node:crypto'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import {
  ExpiredError,
  Identity,
  ManualClock,
  decodeAttachmentPointer,
  mailboxKeyFor,
  toBytes,
  type AttachmentPointer,
  type Bytes,
} from '@passage/sdk'
import { CLIENT_DB_FILE, libsignalKeys } from '@passage/sdk/node'
import { offlinePair, startClient, testnet, type Testnet } from '@passage/sdk/testing'

const DAY = 86_400_000
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

/** The pointer of an attachment as its sender's home keeps it (read from its SQLite file). */
function pointerIn(home: string, messageId: string): AttachmentPointer {
  const db = new Database(join(home, CLIENT_DB_FILE), { readonly: true })
  try {
    const row = db
      .prepare('select pointer from attachments where message_id = ?')
      .get(messageId) as { pointer: Buffer } | undefined
    if (!row) throw new Error(`no attachment ${messageId} in ${home}`)
    return decodeAttachmentPointer(toBytes(row.pointer))
  } finally {
    db.close()
  }
}

/** For each chunk: the testnet nodes that hold it in the capability mailbox. */
async function holders(net: Testnet, p: AttachmentPointer, now: number): Promise<number[]> {
  const box = mailboxKeyFor(Identity.fromPrivateKey(libsignalKeys, p.capability).publicKey)
  return Promise.all(
    p.chunkIds.map(async (id: Bytes) => {
      let n = 0
      for (const node of net.nodes) if (await node.mailboxStore.get(box, id, now)) n++
      return n
    }),
  )
}

t.test(
  'recipient offline: chunks on ≥ 3 replicas, fetched on day 6; expired after 7 days, a resend recovers it',
  async (t) => {
    const clock = new ManualClock(Date.now())
    const net = await testnet(t, 8, { clock })
    const { alice, bobHome, bob: offline } = await offlinePair(t, net, { clock })
    const first = randomBytes(300_000)
    const second = randomBytes(200_000)
    const sent1 = await alice.sendAttachment(offline.textId, {
      bytes: first,
      contentType: 'image/gif',
      caption: 'day 0 🎞',
    })
    t.equal(sent1.route, 'mailbox', 'the pointer went to the mailbox')
    t.equal(sent1.attachment?.state, 'available')
    t.equal(sent1.attachment?.expiresAt, clock.now() + 7 * DAY, 'in the DHT for 7 days')
    const p1 = pointerIn(alice.home, sent1.id)
    t.equal(p1.chunkIds.length, 5)
    const held = await holders(net, p1, clock.now())
    t.ok(
      held.every((n) => n >= 3),
      `every chunk on ≥ 3 replicas (${held.join(', ')})`,
    )
    t.ok(
      held.every((n) => n <= 5),
      'on at most 5 (blobs take fewer replicas than a mailbox)',
    )
    const sent2 = await alice.sendAttachment(offline.textId, {
      bytes: second,
      contentType: 'application/octet-stream',
      fileName: 'notes.bin',
    })

    // Day 6: Bob comes back, fetches his mailbox, then the first file.
    clock.advance(6 * DAY)
    const bob = await startClient(t, net, bobHome, { listen: false, clock })
    const got = await bob.fetchInbox()
    t.equal(got.length, 2)
    const m1 = got.find((m) => m.id === sent1.id)!
    t.equal(m1.text, 'day 0 🎞')
    t.equal(m1.attachment?.state, 'available')
    t.equal(sha256(await bob.attachments.fetch(m1.id)), sha256(first), 'day 6: the same bytes')
    t.equal(
      (await bob.history(alice.textId)).find((m) => m.id === sent1.id)?.attachment?.state,
      'downloaded',
    )

    // Day 8: the second one expired before Bob fetched it.
    clock.advance(2 * DAY)
    const [, shown2] = await bob.history(alice.textId)
    t.equal(shown2?.id, sent2.id)
    t.equal(shown2?.attachment?.state, 'expired', 'shown as expired')
    await t.rejects(bob.attachments.fetch(sent2.id), ExpiredError)
    t.equal((await bob.history(alice.textId))[1]?.attachment?.state, 'expired')
    // Bob asks again; Alice (online) reads the request and puts the chunks back.
    await bob.attachments.requestResend(sent2.id)
    await alice.fetchInbox()
    const renewed = pointerIn(alice.home, sent2.id)
    t.equal(renewed.expiresAt, clock.now() + 7 * DAY, 'put again for 7 days')
    t.ok((await holders(net, renewed, clock.now())).every((n) => n >= 3))
    await bob.fetchInbox()
    const again = (await bob.history(alice.textId))[1]
    t.equal(again?.attachment?.state, 'available', 'available again')
    t.equal(again?.attachment?.expiresAt, renewed.expiresAt)
    t.equal(sha256(await bob.attachments.fetch(sent2.id)), sha256(second), 'recovered')
    // The first file still opens from Bob's home though its DHT copy expired too.
    t.equal(sha256(await bob.attachments.fetch(m1.id)), sha256(first))
  },
)
