// Attachments between two online clients (docs/PROTOCOL.md "Pulling chunks over a link"):
// real clients on a UDP testnet, SQLite homes, TCP links; the chunks go over the link only.
import { createHash, randomBytes } from 'node:crypto'
import t from 'tap'
import { TooLargeError, type AttachmentEvent } from '@passage/sdk'
import { collect, startClient, testnet, tmpHome } from '@passage/sdk/testing'
import type { Testnet } from '@passage/sdk/testing'
import { linkedPair } from '../helpers/linked-pair.js'

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

/** Mailbox fragments the testnet's nodes took (every put of any envelope). */
function putsOn(net: Testnet): number {
  return net.nodes.reduce((n, node) => n + (node.stats.handled['mailbox-put'] ?? 0), 0)
}

t.test('2 MiB between two online clients: over the link, SHA-256 equal, 0 DHT puts', async (t) => {
  const net = await testnet(t)
  const [alice, bob] = await linkedPair(t, net)
  const gif = randomBytes(2 * 1024 * 1024)
  const before = putsOn(net)
  const arrived = collect(bob, 1)
  const sent = await alice.sendAttachment(bob.textId, {
    bytes: gif,
    contentType: 'image/gif',
    fileName: '猫.gif',
    caption: '見て 🐈',
    width: 320,
    height: 240,
    frames: 24,
    durationMs: 2400,
    preview: Uint8Array.of(1, 2, 3),
  })
  t.equal(sent.route, 'direct')
  t.equal(sent.attachment?.state, 'available')
  t.equal(sent.attachment?.expiresAt, 0, 'not in the DHT: every device of Bob was linked')
  const [message] = await arrived.done
  t.ok(message, 'Bob got the pointer')
  t.equal(message!.text, '見て 🐈')
  t.match(message!.attachment, {
    contentType: 'image/gif',
    fileName: '猫.gif',
    size: gif.byteLength,
    width: 320,
    height: 240,
    frames: 24,
    durationMs: 2400,
    state: 'available',
    expiresAt: 0,
  })
  t.same([...message!.attachment!.preview!], [1, 2, 3])
  const progress: AttachmentEvent[] = []
  bob.on('attachment', (e) => progress.push(e))
  const got = await bob.attachments.fetch(message!.id)
  t.equal(sha256(got), sha256(gif), 'the same bytes')
  t.equal(putsOn(net), before, '0 DHT puts')
  t.ok(progress.some((e) => e.state === 'downloading' && e.done > 0 && e.done < e.total))
  t.equal(progress.at(-1)?.state, 'downloaded')
  const [shown] = await bob.history(alice.textId, { limit: 1 })
  t.equal(shown?.attachment?.state, 'downloaded')
  // Kept as ciphertext and decrypted on view: the sender closed, the file still opens.
  await alice.close()
  t.equal(sha256(await bob.attachments.fetch(message!.id)), sha256(gif), 'from the home')
  // Alice's own copy opens too.
})

t.test('the size cap is refused before any work', async (t) => {
  const net = await testnet(t)
  const alice = await startClient(t, net, tmpHome(t, 'alice'))
  const bob = await startClient(t, net, tmpHome(t, 'bob'))
  await alice.contacts.add(bob.contactUri)
  const before = putsOn(net)
  const events: AttachmentEvent[] = []
  alice.on('attachment', (e) => events.push(e))
  await t.rejects(
    alice.sendAttachment(bob.textId, {
      bytes: new Uint8Array(8 * 1024 * 1024 + 1),
      contentType: 'image/gif',
    }),
    TooLargeError,
  )
  await t.rejects(
    alice.sendAttachment(bob.textId, {
      bytes: new Uint8Array(10),
      contentType: 'image/gif',
      caption: '字'.repeat(1400),
    }),
    { code: 'PASSAGE_ERR_MALFORMED' },
    'a caption over 4000 bytes',
  )
  t.equal(putsOn(net), before, 'nothing put')
  t.same(events, [], 'nothing started')
  t.same(await alice.history(bob.textId), [], 'no message')
})
