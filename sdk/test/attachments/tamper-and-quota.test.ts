// Attachments under attack and at the limits (docs/PROTOCOL.md "Chunks and the capability
// mailbox"): a chunk altered on replicas is fetched from another or refused; the upload
// budget and the replicas' per-IP quota fail loudly, and nothing is sent.
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import {
  Identity,
  QuotaExceededError,
  TamperedError,
  decodeAttachmentPointer,
  mailboxKeyFor,
  toBytes,
  type AttachmentEvent,
  type PassageClient,
} from '@passage/sdk'
import { ATTACHMENTS_DIR, CLIENT_DB_FILE, libsignalKeys } from '@passage/sdk/node'
import { offlinePair, startClient, testnet, type Testnet } from '@passage/sdk/testing'

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

/** Flips one byte of chunk `index` of an attachment on `count` of the replicas holding it. */
async function flip(
  net: Testnet,
  sender: PassageClient,
  messageId: string,
  index: number,
  count: number,
): Promise<number> {
  const db = new Database(join(sender.home, CLIENT_DB_FILE), { readonly: true })
  const row = db.prepare('select pointer from attachments where message_id = ?').get(messageId) as {
    pointer: Buffer
  }
  db.close()
  const p = decodeAttachmentPointer(toBytes(row.pointer))
  const box = mailboxKeyFor(Identity.fromPrivateKey(libsignalKeys, p.capability).publicKey)
  let flipped = 0
  let holding = 0
  for (const node of net.nodes) {
    const envelope = await node.mailboxStore.get(box, p.chunkIds[index]!, Date.now())
    if (!envelope) continue
    holding++
    if (flipped < count) {
      envelope.data[100]! ^= 0x01 // the store's own bytes: the replica now serves them altered
      flipped++
    }
  }
  return holding
}

t.test(
  'one chunk altered on replicas: served from another; altered on all: tampered, no bytes',
  async (t) => {
    const net = await testnet(t, 8)
    const { alice, bobHome, bob: offline } = await offlinePair(t, net)
    const good = randomBytes(200_000)
    const bad = randomBytes(200_000)
    const a = await alice.sendAttachment(offline.textId, { bytes: good, contentType: 'image/gif' })
    const b = await alice.sendAttachment(offline.textId, { bytes: bad, contentType: 'image/gif' })
    const holding = await flip(net, alice, a.id, 1, 1)
    t.ok(holding >= 3)
    await flip(net, alice, a.id, 2, holding - 1) // all but one replica serve chunk 2 altered
    await flip(net, alice, b.id, 0, Number.MAX_SAFE_INTEGER) // every replica serves chunk 0 altered

    const bob = await startClient(t, net, bobHome, { listen: false })
    await bob.fetchInbox()
    t.equal(sha256(await bob.attachments.fetch(a.id)), sha256(good), 'served from good replicas')
    const events: AttachmentEvent[] = []
    bob.on('attachment', (e) => events.push(e))
    await t.rejects(bob.attachments.fetch(b.id), TamperedError, 'refused')
    t.equal(events.at(-1)?.state, 'tampered')
    const shown = (await bob.history(alice.textId)).find((m) => m.id === b.id)
    t.equal(shown?.attachment?.state, 'tampered', 'shown as tampered')
    // Nothing of it is kept as the file: no ciphertext (only chunks that matched their IDs stay, to resume).
    const db = new Database(join(bob.home, CLIENT_DB_FILE), { readonly: true })
    const kept = db
      .prepare('select ciphertext is not null as held from attachments where message_id = ?')
      .get(b.id) as { held: number }
    t.equal(kept.held, 0, 'no ciphertext kept')
    t.notOk(existsSync(join(bob.home, ATTACHMENTS_DIR, b.id)), 'no file of it')
    db.close()
  },
)

t.test('the local upload budget: a clear quota error, nothing sent', async (t) => {
  const net = await testnet(t)
  const { alice, bob } = await offlinePair(t, net, { attachmentBudgetBytes: 500_000 })
  const first = await alice.sendAttachment(bob.textId, {
    bytes: randomBytes(300_000),
    contentType: 'image/gif',
  })
  t.equal(first.attachment?.state, 'available')
  const error = await alice
    .sendAttachment(bob.textId, { bytes: randomBytes(300_000), contentType: 'image/gif' })
    .catch((e: unknown) => e)
  t.type(error, QuotaExceededError)
  t.match((error as Error).message, /in the last 7 days .* send it when the recipient is online/)
  const history = await alice.history(bob.textId)
  t.same(
    history.map((m) => m.id),
    [first.id],
    'the refused attachment sent nothing',
  )
})

t.test("a replica's per-IP quota: QuotaExceededError, nothing sent", async (t) => {
  const net = await testnet(t, 6, {
    quota: { maxCount: 10_000, maxBytes: 16 * 1024 * 1024, maxSourceBytes: 100_000 },
  })
  const { alice, bob } = await offlinePair(t, net)
  await t.rejects(
    alice.sendAttachment(bob.textId, { bytes: randomBytes(300_000), contentType: 'image/gif' }),
    QuotaExceededError,
  )
  t.same(await alice.history(bob.textId), [], 'no message')
})
