import { lanPeerSink, linkManagerOf } from '../core/client/create-client.js'
import { nodeIdFromPublicKey } from '../core/identity/node-id.js'
import { encodeTextId } from '../core/identity/text-id.js'
import type { ClientInternals } from '../core/client/context.js'
import type { ChatMessage, PassageClient } from '../core/client/types.js'
import { createNodeClient, type NodeClientOptions } from '../node/create-node-client.js'
import { tmpHome, type Teardown } from './harness.js'
import { createTestnet, type Testnet, type TestnetOptions } from './testnet.js'

/** A testnet of `n` DHT nodes on 127.0.0.1 (short timeouts), destroyed at teardown. */
export async function testnet(t: Teardown, n = 6, options: TestnetOptions = {}): Promise<Testnet> {
  const net = await createTestnet(n, { requestTimeoutMs: 200, retries: 2, ...options })
  t.teardown(() => net.destroy())
  return net
}

/**
 * A client for tests, closed at teardown: the identity of `home` (made when it has none; a
 * fresh folder by default), joined to `net` (`undefined`: no DHT at all), no LAN multicast, and no background work
 * (tests fetch and flush explicitly, so results are deterministic). `options` override.
 */
export async function startClient(
  t: Teardown,
  net: Pick<Testnet, 'bootstrap'> | undefined,
  home: string = tmpHome(t, 'client'),
  options: Partial<NodeClientOptions> = {},
  internals: ClientInternals = {},
): Promise<PassageClient> {
  const client = await createNodeClient(
    {
      home,
      createIdentity: true,
      dhtBootstrap: net?.bootstrap ?? [],
      fetchIntervalMs: 3_600_000,
      background: false,
      lan: false,
      ...options,
    },
    internals,
  )
  t.teardown(() => client.close())
  return client
}

/** Collects `message` events until `count` arrived (or `ms` passed). */
export function collect(
  client: PassageClient,
  count: number,
  ms = 20_000,
): { messages: ChatMessage[]; done: Promise<ChatMessage[]> } {
  const messages: ChatMessage[] = []
  const done = new Promise<ChatMessage[]>((resolve) => {
    const timer = setTimeout(() => {
      off()
      resolve(messages)
    }, ms)
    const off = client.on('message', (m) => {
      messages.push(m)
      if (messages.length >= count) {
        clearTimeout(timer)
        off()
        resolve(messages)
      }
    })
  })
  return { messages, done }
}

/**
 * Resolves true once `predicate` holds, checking after every event of the client (and every
 * 50 ms); false after `ms`.
 */
export async function whenClient(
  client: PassageClient,
  predicate: () => Promise<boolean> | boolean,
  ms = 20_000,
): Promise<boolean> {
  const deadline = Date.now() + ms
  for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
    if (await predicate()) return true
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, 50)
      const offs = [
        client.on('delivery', done),
        client.on('message', done),
        client.on('status', done),
      ]
      function done() {
        clearTimeout(timer)
        offs.forEach((off) => off())
        resolve()
      }
    })
  }
  return predicate()
}

/**
 * Tells each client where the other's direct link listens, as LAN discovery would: the next
 * send between them goes over a direct link.
 */
export function introduce(a: PassageClient, b: PassageClient, now = Date.now()): void {
  for (const [from, to] of [
    [a, b],
    [b, a],
  ] as const) {
    const listening = to.status().listening
    if (!listening) throw new Error(`${to.textId} has no link listener`)
    lanPeerSink(from)?.({
      // The device: its key's ID (device 1's is the account's).
      textId: encodeTextId(nodeIdFromPublicKey(to.identity.publicKey)),
      publicKey: to.identity.publicKey,
      account: { textId: to.textId, deviceId: to.deviceId },
      addresses: [{ host: listening.host, port: listening.port }],
      lastSeenAt: now,
    })
  }
}

/**
 * Closes every direct link of `client` (its peers see them close); the next send dials anew.
 * Resolves once none is open, on this side and on every client of `peers`.
 */
export async function dropLinks(client: PassageClient, ...peers: PassageClient[]): Promise<void> {
  linkManagerOf(client)?.closeLinks()
  const open = () => [client, ...peers].some((c) => (linkManagerOf(c)?.openLinks().length ?? 0) > 0)
  const deadline = Date.now() + 5_000
  for (let i = 0; i < 500 && open() && Date.now() < deadline; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  if (open()) throw new Error('a link stayed open')
}

/** What {@link offlinePair} leaves: Alice online, Bob's home with Bob offline. */
export interface OfflinePair {
  alice: PassageClient
  /** Bob's home: start him again with `startClient(t, net, bobHome, …)`. */
  bobHome: string
  /** Who Bob is (his client is closed). */
  bob: Pick<PassageClient, 'textId' | 'contactUri' | 'identity'>
}

/**
 * Alice online with Bob as a contact, Bob offline: Bob started once (so his pre-key bundle is
 * in the DHT), then closed; Alice's messages to him go to his mailbox. Both without a link
 * listener unless `options` says otherwise.
 */
export async function offlinePair(
  t: Teardown,
  net: Pick<Testnet, 'bootstrap'>,
  options: Partial<NodeClientOptions> = {},
): Promise<OfflinePair> {
  const bobHome = tmpHome(t, 'bob')
  const bob = await startClient(t, net, bobHome, { listen: false, ...options })
  await bob.close()
  const alice = await startClient(t, net, tmpHome(t, 'alice'), { listen: false, ...options })
  await alice.contacts.add(bob.contactUri)
  return {
    alice,
    bobHome,
    bob: { textId: bob.textId, contactUri: bob.contactUri, identity: bob.identity },
  }
}

/**
 * A new device linked to `primary`'s account (which must be its device 1) over loopback: a
 * client opened with `link: true` on a fresh home (or `home`), its request approved by
 * `primary`. Closed at teardown.
 */
export async function linkDevice(
  t: Teardown,
  net: Pick<Testnet, 'bootstrap'> | undefined,
  primary: PassageClient,
  options: Partial<NodeClientOptions> & { home?: string; history?: boolean } = {},
  internals: ClientInternals = {},
): Promise<PassageClient> {
  const { home, history, ...rest } = options
  const device = await startClient(
    t,
    net,
    home ?? tmpHome(t, 'device'),
    { ...rest, link: true },
    internals,
  )
  const request = await device.devices.requestLink()
  await primary.devices.approveLink(request.uri, history ? { history } : {})
  await request.linked
  return device
}
