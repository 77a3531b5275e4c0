// Transfers that stop: a fetch aborted half way keeps the chunks it checked and the next one
// starts from there; a file only its sender held (pulled over a link) is recovered through
// the DHT by a resend once the sender is back.
import { createHash, randomBytes } from 'node:crypto'
import t from 'tap'
import { UnreachableError, type AttachmentEvent } from '@passage/sdk'
import {
  collect,
  introduce,
  offlinePair,
  startClient,
  testnet,
  tmpHome,
} from '@passage/sdk/testing'

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

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

t.test('a file only its sender held: unreachable, then a resend through the DHT', async (t) => {
  const net = await testnet(t)
  const aliceHome = tmpHome(t, 'alice')
  const alice = await startClient(t, net, aliceHome)
  const bob = await startClient(t, net, tmpHome(t, 'bob'))
  introduce(alice, bob)
  await alice.contacts.add(bob.contactUri)
  await bob.contacts.add(alice.contactUri)
  await alice.send(bob.textId, 'hi')
  await bob.send(alice.textId, 'hi')
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
