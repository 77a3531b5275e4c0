import t from 'tap'
import { DhtNode, Identity, MemoryMailboxStore, mailboxKeyFor, utf8 } from '@passage/sdk'
import { libsignalKeys, bindUdpSocket } from '@passage/sdk/node'
import { createTestnet } from '@passage/sdk/testing'

t.test('a replica that restarts on its store keeps what it acknowledged', async (t) => {
  const net = await createTestnet(6)
  t.teardown(() => net.destroy())
  // A node whose store outlives it (the server's Postgres store plays this part).
  const identity = Identity.generate(libsignalKeys)
  const store = new MemoryMailboxStore()
  const first = new DhtNode({ identity, socket: await bindUdpSocket(), mailboxStore: store })
  await first.bootstrap(net.bootstrap)
  const bob = Identity.generate(libsignalKeys)
  const put = await net.nodes[1]!.putEnvelope(bob.publicKey, utf8('survive a restart'))
  t.equal(put.stored, 7, 'all 7 nodes store it, the restarting one included')
  await first.destroy() // a crash: no goodbye
  const again = new DhtNode({ identity, socket: await bindUdpSocket(), mailboxStore: store })
  t.teardown(() => again.destroy())
  await again.bootstrap(net.bootstrap)
  const key = mailboxKeyFor(bob.publicKey)
  t.ok(await store.has(key, put.id, Date.now()), 'still in its store')
  // Other nodes re-verify it at its new port; the owner reads through it.
  const got = await again.fetchMailbox(bob)
  t.same(
    got.map((e) => new TextDecoder().decode(e.data)),
    ['survive a restart'],
  )
})

t.test('IPv6 loopback: ping, lookup, put and get over ::1', async (t) => {
  let sockets
  try {
    sockets = await Promise.all([bindUdpSocket('::1'), bindUdpSocket('::1'), bindUdpSocket('::1')])
  } catch (error) {
    // A host without IPv6 loopback cannot run this test; say so instead of passing silently.
    t.fail(`cannot bind ::1: ${String(error)}`)
    return
  }
  const nodes = sockets.map(
    (socket) => new DhtNode({ identity: Identity.generate(libsignalKeys), socket }),
  )
  t.teardown(() => Promise.all(nodes.map((n) => n.destroy())))
  const [a, b, c] = nodes as [DhtNode, DhtNode, DhtNode]
  t.equal(a.address().host, '::1')
  t.equal(await b.bootstrap([a.address()]), 1)
  t.ok((await c.bootstrap([a.address()])) >= 1)
  const r = await c.lookup(b.id)
  t.ok(
    r.closest.some((n) => n.host === '::1' && n.port === b.address().port),
    'found over IPv6',
  )
  const carol = Identity.generate(libsignalKeys)
  const put = await b.putEnvelope(carol.publicKey, utf8('over ipv6'))
  t.equal(put.stored, 3)
  t.equal((await c.fetchMailbox(carol)).length, 1)
})
