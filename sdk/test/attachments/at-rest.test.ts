// Attachments at rest (docs/PROTOCOL.md "Attachments at rest"): a fetched ciphertext is a file
// of the home, its digest and MAC checked at decryption; a file damaged or lost at rest is
// fetched again, a sender whose chunks are not the file its digest names is refused; a declined
// request's files leave the home with its messages.
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t, { type Test } from 'tap'
import {
  NotFoundError,
  TamperedError,
  decodeAttachmentPointer,
  encodeAttachmentPointer,
  toBytes,
  type AttachmentEvent,
  type PassageClient,
} from '@passage/sdk'
import { ATTACHMENTS_DIR, CLIENT_DB_FILE } from '@passage/sdk/node'
import { collect, startClient, testnet, tmpHome } from '@passage/sdk/testing'
import { linkedPair } from '../helpers/linked-pair.js'

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
const fileOf = (c: PassageClient, id: string) => join(c.home, ATTACHMENTS_DIR, id)

/** Alice and Bob linked, and a file Alice sent Bob over the link (not in the DHT). */
async function linkedSend(t: Test, bytes: Uint8Array) {
  const [alice, bob] = await linkedPair(t, await testnet(t))
  const arrived = collect(bob, 1)
  const sent = await alice.sendAttachment(bob.textId, { bytes, contentType: 'image/gif' })
  t.equal(sent.attachment?.expiresAt, 0, 'over the link only')
  await arrived.done
  return { alice, bob, id: sent.id }
}

t.test('a fetched file damaged or lost at rest is fetched again', async (t) => {
  const bytes = randomBytes(300_000)
  const { alice, bob, id } = await linkedSend(t, bytes)
  t.equal(sha256(await bob.attachments.fetch(id)), sha256(bytes))
  const path = fileOf(bob, id)
  t.ok(existsSync(path), 'the ciphertext is a file of the home')
  t.ok(existsSync(fileOf(alice, id)), "and the sender's too")

  const whole = readFileSync(path)
  writeFileSync(path, whole.subarray(0, 100_000)) // cut short, as by a crash of the OS
  t.equal(sha256(await bob.attachments.fetch(id)), sha256(bytes), 'a short file: fetched again')
  t.same(readFileSync(path), whole, 'and kept whole')

  whole[70_000]! ^= 1 // one byte of chunk 1 differs from its ID
  writeFileSync(path, whole)
  t.equal(sha256(await bob.attachments.fetch(id)), sha256(bytes), 'an altered file: again')

  rmSync(path)
  const events: AttachmentEvent[] = []
  bob.on('attachment', (e) => events.push(e))
  t.equal(sha256(await bob.attachments.fetch(id)), sha256(bytes), 'no file: again')
  t.equal(events.at(-1)?.state, 'downloaded')
  const shown = (await bob.history(alice.textId)).find((m) => m.id === id)
  t.equal(shown?.attachment?.state, 'downloaded')
})

t.test('chunks that match their IDs but not the digest: tampered, nothing kept', async (t) => {
  const bytes = randomBytes(200_000)
  const { alice, bob, id } = await linkedSend(t, bytes)
  // The pointer names a digest the chunks are not (as a sender that listed another file's).
  const db = new Database(join(bob.home, CLIENT_DB_FILE))
  const row = db.prepare('select pointer from attachments where message_id = ?').get(id) as {
    pointer: Buffer
  }
  const p = decodeAttachmentPointer(toBytes(row.pointer))
  const digest = Uint8Array.from(p.digest)
  digest[0]! ^= 1
  db.prepare('update attachments set pointer = ? where message_id = ?').run(
    encodeAttachmentPointer({ ...p, digest }),
    id,
  )
  db.close()
  const events: AttachmentEvent[] = []
  bob.on('attachment', (e) => events.push(e))
  await t.rejects(bob.attachments.fetch(id), TamperedError, 'no byte of it shown')
  t.same(
    events.slice(-2).map((e) => e.state),
    ['downloaded', 'tampered'],
    'every chunk held, then refused at decryption',
  )
  t.notOk(existsSync(fileOf(bob, id)), 'its ciphertext is not kept')
  const shown = (await bob.history(alice.textId)).find((m) => m.id === id)
  t.equal(shown?.attachment?.state, 'tampered')
  await t.rejects(bob.attachments.fetch(id), TamperedError, 'and stays refused')
})

t.test('a declined request takes its files with it', async (t) => {
  const net = await testnet(t)
  const bob = await startClient(t, net, tmpHome(t, 'bob'), { listen: false })
  const mallory = await startClient(t, net, tmpHome(t, 'mallory'), { listen: false })
  await mallory.contacts.add(bob.contactUri)
  const bytes = randomBytes(150_000)
  const sent = await mallory.sendAttachment(bob.textId, { bytes, contentType: 'image/gif' })
  t.equal(sent.state, 'stored', 'through the mailbox, the file in the DHT')
  t.same(
    (await bob.fetchInbox()).map((m) => m.contactId),
    [mallory.textId],
    'a request',
  )
  t.equal(sha256(await bob.attachments.fetch(sent.id)), sha256(bytes), 'fetched to look at')
  t.ok(existsSync(fileOf(bob, sent.id)), 'its ciphertext is a file of the home')

  await bob.requests.decline(mallory.textId)
  t.notOk(existsSync(fileOf(bob, sent.id)), 'declined: the file is gone')
  await t.rejects(bob.attachments.fetch(sent.id), NotFoundError, 'and so is its row')
  const db = new Database(join(bob.home, CLIENT_DB_FILE), { readonly: true })
  t.teardown(() => db.close())
  const left = (table: string) =>
    (db.prepare(`select count(*) as n from ${table}`).get() as { n: number }).n
  t.equal(left('attachments'), 0, 'no attachment row left')
  t.equal(left('attachment_chunks'), 0, 'no chunk left')
})
