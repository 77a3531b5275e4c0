// Transfers that stop: a fetch aborted half way keeps the chunks it checked and the next one
// starts from there (from the DHT: kept as they come; over a link: held in memory, kept in
// the home when the pull stops); a file only its sender held (pulled over a link) is
// recovered through the DHT by a resend once the sender is back.
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { UnreachableError, type AttachmentEvent, type PassageClient } from '@passage/sdk'
import { ATTACHMENTS_DIR, CLIENT_DB_FILE } from '@passage/sdk/node'
import { collect, offlinePair, startClient, testnet } from '@passage/sdk/testing'
import { linkedPair } from '../helpers/linked-pair.js'

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

/** What a home holds of an attachment: its chunk rows, and whether its ciphertext is kept (a file). */
/** Bytes in the attachments folder's temporary files (a draft, the empty spare made ahead). */
function temporaryBytes(client: PassageClient): number {
  const dir = join(client.home, ATTACHMENTS_DIR)
  return readdirSync(dir)
    .filter((name) => name.startsWith('.'))
    .reduce((n, name) => n + statSync(join(dir, name)).size, 0)
}

function atRest(client: PassageClient, messageId: string): { chunks: number; ciphertext: number } {
  const db = new Database(join(client.home, CLIENT_DB_FILE), { readonly: true })
  try {
    const { chunks } = db
      .prepare('select count(*) as chunks from attachment_chunks where message_id = ?')
      .get(messageId) as { chunks: number }
    const { column } = db
      .prepare(
        'select coalesce(length(ciphertext), 0) > 0 as column from attachments where message_id = ?',
      )
      .get(messageId) as { column: number }
    const file = existsSync(join(client.home, ATTACHMENTS_DIR, messageId)) ? 1 : 0
    return { chunks, ciphertext: column + file }
  } finally {
    db.close()
  }
}

t.test('an aborted fetch resumes from the chunks it kept', async (t) => {
  const net = await testnet(t, 8)
  const { alice, bobHome, bob: offline } = await offlinePair(t, net)
  const file = randomBytes(600_000)
  const sent = await alice.sendAttachment(offline.textId, { bytes: file, contentType: 'video/mp4' })
  const bob = await startClient(t, net, bobHome, { listen: false })
  await bob.fetchInbox()
  const controller = new AbortController()
  const first: AttachmentEvent[] = []
  const off = bob.on('attachment', (e) => {
    first.push(e)
    if (e.done >= 2 * 65_536) controller.abort()
  })
  await t.rejects(bob.attachments.fetch(sent.id, { signal: controller.signal }))
  off()
  const kept = first.filter((e) => e.state === 'downloading').at(-1)!.done
  t.ok(kept >= 2 * 65_536 && kept < file.byteLength, `stopped with ${kept} bytes kept`)
  t.equal((await bob.history(alice.textId))[0]?.attachment?.state, 'available', 'to fetch again')

  const second: AttachmentEvent[] = []
  bob.on('attachment', (e) => second.push(e))
  t.equal(sha256(await bob.attachments.fetch(sent.id)), sha256(file))
  t.ok(second[0]!.done >= kept, `the second fetch started at ${second[0]!.done} bytes`)
})

t.test(
  'a pull over a link stopped half way keeps its chunks in the home; the next resumes',
  async (t) => {
    const [alice, bob] = await linkedPair(t, await testnet(t))
    const file = randomBytes(1_000_000)
    const arrived = collect(bob, 1)
    const sent = await alice.sendAttachment(bob.textId, { bytes: file, contentType: 'video/mp4' })
    t.equal(sent.attachment?.expiresAt, 0, 'pulled over the link only')
    await arrived.done
    const controller = new AbortController()
    const first: AttachmentEvent[] = []
    const off = bob.on('attachment', (e) => {
      first.push(e)
      if (e.done >= 2 * 65_536) controller.abort()
    })
    await t.rejects(bob.attachments.fetch(sent.id, { signal: controller.signal }))
    off()
    const kept = first.filter((e) => e.state === 'downloading').at(-1)!.done
    const total = first[0]!.total
    t.ok(kept >= 2 * 65_536 && kept < total, `stopped with ${kept} of ${total} bytes`)
    const held = atRest(bob, sent.id)
    t.ok(held.chunks * 65_536 >= kept, `the ${held.chunks} chunks it had are in the home`)
    t.equal(held.ciphertext, 0, 'no ciphertext: the file is not whole')
    t.equal(temporaryBytes(bob), 0, 'the draft written as chunks came is gone')

    const second: AttachmentEvent[] = []
    bob.on('attachment', (e) => second.push(e))
    t.equal(sha256(await bob.attachments.fetch(sent.id)), sha256(file))
    t.ok(second[0]!.done >= kept, `the second fetch started at ${second[0]!.done} bytes`)
    t.same(
      atRest(bob, sent.id),
      { chunks: 0, ciphertext: 1 },
      'at rest: the ciphertext, in one file',
    )
    t.equal(temporaryBytes(bob), 0, 'no temporary file holds any of it')
  },
)

t.test('a file only its sender held: unreachable, then a resend through the DHT', async (t) => {
  const net = await testnet(t)
  const [alice, bob] = await linkedPair(t, net)
  const aliceHome = alice.home
  const file = randomBytes(150_000)
  const arrived = collect(bob, 1)
  const sent = await alice.sendAttachment(bob.textId, { bytes: file, contentType: 'image/png' })
  t.equal(sent.attachment?.expiresAt, 0, 'pulled over the link only')
  await arrived.done
  await alice.close()
  await t.rejects(bob.attachments.fetch(sent.id), UnreachableError, 'the sender is gone')
  await bob.attachments.requestResend(sent.id)

  const back = await startClient(t, net, aliceHome, { listen: false })
  await back.fetchInbox() // the request: the chunks go to the DHT, Bob is told
  await bob.fetchInbox()
  const [shown] = await bob.history(back.textId, { limit: 1 })
  t.equal(shown?.id, sent.id)
  t.ok(shown!.attachment!.expiresAt > 0, 'now in the DHT')
  t.equal(sha256(await bob.attachments.fetch(sent.id)), sha256(file), 'recovered')
})
