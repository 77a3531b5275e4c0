// The super-node's DHT node in process (startServer): joins a testnet, stores envelopes in
// its database, restores its routing table after a restart, /readyz, /v1/info, metrics.
import { spawnSync } from 'node:child_process'
import {
  DhtNode,
  envelopeIdOf,
  Identity,
  mailboxKeyFor,
  toHex,
  utf8,
  ManualClock,
  ManualTimers,
} from '@passage/sdk'
import { libsignalKeys, bindUdpSocket } from '@passage/sdk/node'
import { createTestnet } from '@passage/sdk/testing'
import t from 'tap'
import { defaultConfig } from '../src/config.js'
import { startServer, type RunningServer } from '../src/start-server.js'
import { backends, type TeardownHost } from './helpers/databases.js'

/** Timers that never fire by themselves: the test calls what they would call. */
const manualTimers = new ManualTimers(new ManualClock())

async function start(
  t: TeardownHost,
  storage: { databaseUrl?: string | undefined; dataDir: string },
  bootstrap: { host: string; port: number }[],
  dhtPort = 0,
): Promise<RunningServer> {
  const server = await startServer({
    config: defaultConfig({
      httpHost: '127.0.0.1',
      httpPort: 0,
      dhtPort,
      bootstrap,
      ...storage,
    }),
    dht: { timers: manualTimers, node: { requestTimeoutMs: 200, retries: 1 } },
  })
  t.teardown(() => server.close())
  return server
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url)
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

for (const backend of backends) {
  t.test(`${backend.name}: joins a testnet, stores envelopes, keeps its table`, async (t) => {
    const net = await createTestnet(5)
    t.teardown(() => net.destroy())
    const storage = await backend.prepare(t)
    const server = await start(t, storage.options, net.bootstrap)
    const dht = server.dht!
    t.ok(dht, 'the DHT runs when dhtPort is set')
    const joined = await dht.bootstrap()
    t.ok(joined >= 5, `the routing table holds the testnet (${joined})`)
    t.equal((await getJson(`${server.url}/readyz`)).status, 200)

    const info = await getJson(`${server.url}/v1/info`)
    t.same(info.body.dht, {
      host: '127.0.0.1',
      port: dht.node.address().port,
      id: dht.node.identity.textId,
    })
    t.not(dht.node.address().port, 0, 'a real port was picked')
    t.not(
      toHex(dht.node.id),
      toHex(server.identity.id),
      "the DHT node has a key of this process's own (the stored identity signs HTTP answers)",
    )

    // A client node (a phone) puts an envelope for Bob: the super-node is one of the replicas.
    const bob = Identity.generate(libsignalKeys)
    const phone = await net.add({ client: true })
    const data = utf8('sealed for bob')
    const put = await phone.putEnvelope(bob.publicKey, data)
    t.ok(put.stored >= 3, `stored on ${put.stored} replicas`)
    const mailboxKey = mailboxKeyFor(bob.publicKey)
    t.ok(
      await dht.mailboxStore.has(mailboxKey, envelopeIdOf(mailboxKey, data), Date.now()),
      'the envelope is in the super-node database',
    )
    const fetched = await phone.fetchMailbox(bob)
    t.same(
      fetched.map((e) => toHex(e.data)),
      [toHex(data)],
    )

    // Metrics after traffic, in the format promtool accepts.
    const text = await (await fetch(`${server.url}/metrics`)).text()
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
    t.equal(promtool.status, 0, `promtool check metrics: ${promtool.stdout}${promtool.stderr}`)
    t.match(text, /^passage_dht_routing_table_nodes [1-9]/m)
    t.match(text, /^passage_dht_rpcs_total\{type="ping",result="ok",direction="inbound"\} [1-9]/m)
    t.match(text, /^passage_dht_rpcs_total\{type="ping",result="ok",direction="outbound"\} [1-9]/m)
    t.match(text, /^passage_dht_rpcs_total\{type="mailbox-put",result="ok",direction="inbound"\}/m)
    t.match(
      text,
      /^passage_dht_rpc_duration_seconds_count\{type="find-node",direction="inbound"\}/m,
    )
    t.match(text, /^passage_dht_datagrams_dropped_total\{reason="malformed"\} 0$/m)
    t.match(text, /^passage_dht_datagrams_dropped_total\{reason="rate-limited"\} 0$/m)
    t.match(text, /^passage_mailbox_messages 1$/m)
    t.match(text, new RegExp(`^passage_mailbox_bytes ${data.byteLength}$`, 'm'))
    t.match(text, /^passage_mailbox_operations_total\{op="put"\} 1$/m)
    t.match(text, /^passage_mailbox_operations_total\{op="get"\} \d+$/m, 'some replica answered')
    t.match(text, /^passage_mailbox_operations_total\{op="expire"\} 0$/m)
    t.match(text, /^passage_dht_lookups_total [1-9]/m)
    t.match(text, /^passage_dht_lookup_hops_count [1-9]/m)

    // Garbage is counted as dropped.
    const junk = await bindUdpSocket('127.0.0.1', 0)
    t.teardown(() => junk.close())
    await junk.send(new Uint8Array([1, 2, 3]), dht.node.address().port, '127.0.0.1')
    for (let i = 0; i < 1000 && dht.node.stats.dropped.malformed === 0; i++) {
      await new Promise((resolve) => setImmediate(resolve))
    }
    t.equal(dht.node.stats.dropped.malformed, 1, 'the datagram was dropped as malformed')
    const after = await (await fetch(`${server.url}/metrics`)).text()
    t.match(after, /^passage_dht_datagrams_dropped_total\{reason="malformed"\} 1$/m)

    // Restart (on the same UDP port, as a deployment does) without any configured peer:
    // the saved contacts are enough to rejoin.
    const contacts = dht.node.contacts().length
    const port = dht.node.address().port
    await server.close()
    const again = await start(t, storage.options, [], port)
    t.equal(toHex(again.identity.id), toHex(server.identity.id), 'same identity')
    const saved = await again.dht!.contactsStore.load()
    t.equal(saved.length, contacts, 'the contacts were saved at shutdown')
    const rejoined = await again.dht!.bootstrap()
    t.ok(rejoined >= 5, `rejoined through the saved contacts (${rejoined})`)
    t.ok(
      await again.dht!.mailboxStore.has(mailboxKey, envelopeIdOf(mailboxKey, data), Date.now()),
      'the envelope is still stored',
    )
    const owner = await net.add({ client: true })
    const mine = await owner.fetchMailbox(bob)
    t.same(
      mine.map((e) => toHex(e.data)),
      [toHex(data)],
    )
    // The owner deletes it: every replica, the super-node's database included.
    await owner.deleteEnvelopes(
      bob,
      mine.map((e) => e.id),
    )
    t.notOk(
      await again.dht!.mailboxStore.has(mailboxKey, envelopeIdOf(mailboxKey, data), Date.now()),
      'deleted from the super-node',
    )
    const metrics = await (await fetch(`${again.url}/metrics`)).text()
    t.match(metrics, /^passage_mailbox_operations_total\{op="delete"\} 1$/m)
    t.match(metrics, /^passage_mailbox_messages 0$/m)
  })
}

t.test('/readyz: 503 with the reason while the bootstrap peer is down, then 200', async (t) => {
  // A port nobody listens on (for now): bind, note, close.
  const probe = await bindUdpSocket('127.0.0.1', 0)
  const peerPort = probe.address().port
  await probe.close()
  const storage = await backends[0]!.prepare(t)
  const server = await start(t, storage.options, [{ host: '127.0.0.1', port: peerPort }])
  await server.dht!.bootstrap()
  const down = await getJson(`${server.url}/readyz`)
  t.equal(down.status, 503)
  t.match(down.body.checks, { storage: 'ok' })
  t.match(
    (down.body.checks as Record<string, string>).dht,
    /^no verified DHT node yet; bootstrapping from 1 configured peer \(attempt \d+, next in \d+ s\)$/,
  )
  t.match(down.body.message, /dht: no verified DHT node yet/)

  // The peer comes up; the next retry (the timer, fired by hand here) finds it.
  const peer = new DhtNode({
    identity: Identity.generate(libsignalKeys),
    socket: await bindUdpSocket('127.0.0.1', peerPort),
  })
  t.teardown(() => peer.destroy())
  t.equal(await server.dht!.bootstrap(), 1)
  const up = await getJson(`${server.url}/readyz`)
  t.equal(up.status, 200)
  t.same(up.body.checks, { storage: 'ok', dht: 'ok' })
})

t.test('/readyz is ready without configured peers (the first node)', async (t) => {
  const storage = await backends[0]!.prepare(t)
  const server = await start(t, storage.options, [])
  const ready = await getJson(`${server.url}/readyz`)
  t.equal(ready.status, 200)
  t.same(ready.body.checks, { storage: 'ok', dht: 'ok' })
})

t.test('no DHT unless asked: startServer without dhtPort', async (t) => {
  const storage = await backends[0]!.prepare(t)
  const server = await startServer({
    config: defaultConfig({ httpHost: '127.0.0.1', httpPort: 0, ...storage.options }),
  })
  t.teardown(() => server.close())
  t.equal(server.dht, undefined)
  t.equal((await getJson(`${server.url}/v1/info`)).body.dht, null)
})
