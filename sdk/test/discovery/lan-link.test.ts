import t from 'tap'
import {
  fromUtf8,
  Identity,
  LanDiscovery,
  LinkListener,
  LinkManager,
  ManualClock,
  ManualTimers,
  UnreachableError,
  utf8,
  type DiscoveredPeer,
  type LinkPeer,
} from '@passage/sdk'
import { libsignalKeys, bindMulticastSocket, listenTcp, connectTcp } from '@passage/sdk/node'
import { within, freeUdpPort } from '@passage/sdk/testing'

t.test('two nodes find each other on the LAN and link with no super-node', async (t) => {
  const clock = new ManualClock()
  const timers = new ManualTimers(clock)
  const udpPort = await freeUdpPort()
  const node = async (identity: Identity) => {
    const listener = await LinkListener.listen({ listen: listenTcp, identity })
    const lan = new LanDiscovery({
      bind: bindMulticastSocket,
      identity,
      tcpPort: listener.address().port,
      clock,
      timers,
      port: udpPort,
      interface: '127.0.0.1',
    })
    const links = new LinkManager({
      connect: connectTcp,
      identity,
      resolve: (id) => {
        const near = lan.peer(id)
        return near ? [{ host: near.host, port: near.tcpPort }] : []
      },
    })
    listener.on('link', (link) => links.adopt(link))
    t.teardown(async () => {
      links.close()
      await lan.stop()
      await listener.close()
    })
    return { identity, lan, links }
  }
  const alice = await node(Identity.generate(libsignalKeys))
  const bob = await node(Identity.generate(libsignalKeys))

  await t.rejects(alice.links.send(bob.identity.id, utf8('too early')), UnreachableError)
  alice.links.retryNow(bob.identity.id)

  const found = within(
    new Promise<DiscoveredPeer>((resolve) => alice.lan.on('peer', resolve)),
    'Bob on the LAN',
  )
  await alice.lan.start()
  await bob.lan.start()
  t.same((await found).id, bob.identity.id)

  const atBob = within(
    new Promise<[string, LinkPeer]>((resolve) =>
      bob.links.on('frame', (payload, peer) => resolve([fromUtf8(payload), peer])),
    ),
    'the frame at Bob',
  )
  await alice.links.send(bob.identity.id, utf8('hi over the LAN'))
  const [text, from] = await atBob
  t.equal(text, 'hi over the LAN')
  t.same(from.id, alice.identity.id, 'Bob knows who it is from: the link proved it')

  const atAlice = within(
    new Promise<string>((resolve) => alice.links.on('frame', (p) => resolve(fromUtf8(p)))),
    'the answer',
  )
  await bob.links.send(alice.identity.id, utf8('hi back'))
  t.equal(await atAlice, 'hi back', 'the answer takes the same link')
  t.equal(alice.links.openLinks().length, 1)
})
