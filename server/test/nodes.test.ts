// The super-node list: --peer-node parsing, checks of real super-nodes on 127.0.0.1 (healthy,
// refused, silent, not ready), the interval on the injected clock, and GET /v1/nodes signed
// by the server's key and verified as a client would.
import { createServer, type Server, type Socket } from 'node:net'
import {
  BadSignatureError,
  BootstrapClient,
  fromBase64Url,
  KeyMismatchError,
  ManualClock,
  toBase64Url,
  verifyNodeListRecord,
  type NodeListJson,
} from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { buildCommand, defaultConfig, parseConfig } from '../src/config.js'
import { PeerNodeChecker } from '../src/nodes/peer-node-checker.js'
import { appFixture, sampleValue, T0 } from './helpers/app-fixture.js'
import { backends, type TeardownHost } from './helpers/databases.js'

/** A silent peer fails its check after this long; a loaded CI machine answers well within it. */
const TIMEOUT_MS = 2_000
const INTERVAL_MS = defaultConfig().peerNodeCheckIntervalMs

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (!address || typeof address === 'string') throw new Error('not listening on TCP')
  return `http://127.0.0.1:${address.port}`
}

/** A TCP server that accepts connections and never answers. */
async function silentServer(t: TeardownHost): Promise<string> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  const address = server.address()
  if (!address || typeof address === 'string') throw new Error('not listening')
  return `http://127.0.0.1:${address.port}`
}

/** A loopback URL where nothing listens (a port that was just free). */
async function refusedUrl(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (!address || typeof address === 'string') throw new Error('not listening')
  return `http://127.0.0.1:${address.port}`
}

t.test('--peer-node and PASSAGE_PEER_NODES', async (t) => {
  const parse = (argv: string[], env: Record<string, string> = {}) => {
    const saved = process.env.PASSAGE_PEER_NODES
    if (env.PASSAGE_PEER_NODES === undefined) delete process.env.PASSAGE_PEER_NODES
    else process.env.PASSAGE_PEER_NODES = env.PASSAGE_PEER_NODES
    try {
      const command = buildCommand()
        .exitOverride()
        .configureOutput({ writeErr: () => {} })
      return parseConfig(['node', 'passage-server', ...argv], command)
    } finally {
      if (saved === undefined) delete process.env.PASSAGE_PEER_NODES
      else process.env.PASSAGE_PEER_NODES = saved
    }
  }
  t.same(parse([]).peerNodes, [])
  t.same(
    parse(['--peer-node', 'https://a.example.org/', '--peer-node', 'http://127.0.0.1:8081'])
      .peerNodes,
    ['https://a.example.org', 'http://127.0.0.1:8081'],
  )
  t.same(
    parse([], { PASSAGE_PEER_NODES: ' https://a.example.org, http://b.example.org:8080/x/ ,' })
      .peerNodes,
    ['https://a.example.org', 'http://b.example.org:8080/x'],
  )
  t.same(parse([], { PASSAGE_PEER_NODES: '' }).peerNodes, [], 'empty variable: no nodes')
  t.same(
    parse(['--peer-node', 'https://a.example.org', '--peer-node', 'https://a.example.org/'])
      .peerNodes,
    ['https://a.example.org'],
    'duplicates once',
  )
  for (const bad of [
    'a.example.org',
    'ftp://a.example.org',
    'https://a.example.org/?x=1',
    'http://',
  ]) {
    t.throws(() => parse(['--peer-node', bad]), `refuses ${bad}`)
  }
})

for (const backend of backends) {
  t.test(`${backend.name}: checks peers and serves the healthy ones, signed`, async (t) => {
    const healthy = await appFixture(t, backend)
    const healthyUrl = await listen(healthy.app)
    // Storage gone: its /readyz answers 503 (a closed Postgres pool fails at once).
    const unready = await appFixture(t, backends[0]!)
    const unreadyUrl = await listen(unready.app)
    await unready.database.close()
    const silentUrl = await silentServer(t)
    const deadUrl = await refusedUrl()

    const clock = new ManualClock(T0)
    const server = await appFixture(t, backend, {
      clock,
      config: {
        peerNodes: [healthyUrl, unreadyUrl, silentUrl, deadUrl],
        peerNodeTimeoutMs: TIMEOUT_MS,
      },
    })
    const { app } = server
    t.ok(app.peerNodes, 'the app can sign')
    const started = Date.now()
    await app.ready() // starts the first round
    await app.peerNodes!.tick() // waits for it
    t.ok(Date.now() - started < 2 * TIMEOUT_MS, 'the silent peer costs one timeout, not more')

    const byUrl = new Map(app.peerNodes!.statuses().map((s) => [s.url, s]))
    t.match(byUrl.get(healthyUrl), {
      healthy: true,
      error: undefined,
      lastChecked: T0,
      lastHealthy: T0,
    })
    t.match(byUrl.get(unreadyUrl), { healthy: false, error: '/readyz: HTTP 503' })
    t.match(byUrl.get(silentUrl), {
      healthy: false,
      error: `/v1/info: no answer within ${TIMEOUT_MS} ms`,
    })
    t.match(byUrl.get(deadUrl), { healthy: false, error: /ECONNREFUSED/ })

    const res = await app.inject({ method: 'GET', url: '/v1/nodes' })
    t.equal(res.statusCode, 200)
    const body = res.json<NodeListJson>()
    t.equal(body.id, server.identity.textId)
    t.equal(body.publicKey, toBase64Url(server.identity.publicKey))
    t.same(body.nodes, [
      { url: healthyUrl, id: healthy.identity.textId, dht: null, lastChecked: T0 },
    ])

    // A client checks the record against the key /v1/info gave it.
    const info = (await app.inject({ method: 'GET', url: '/v1/info' })).json<{
      publicKey: string
    }>()
    const list = verifyNodeListRecord(body.record, fromBase64Url(info.publicKey), libsignalKeys)
    t.same(
      list.nodes.map((n) => ({ ...n, id: toBase64Url(n.id) })),
      [{ url: healthyUrl, id: toBase64Url(healthy.identity.id), dht: null, lastChecked: T0 }],
    )
    t.equal(list.seq, body.seq)
    t.equal(list.timestamp, T0)
    t.throws(
      () => verifyNodeListRecord(body.record, healthy.identity.publicKey, libsignalKeys),
      KeyMismatchError,
    )
    const bytes = fromBase64Url(body.record)
    bytes[60] = bytes[60]! ^ 1 // inside the payload
    t.throws(
      () => verifyNodeListRecord(bytes, server.identity.publicKey, libsignalKeys),
      BadSignatureError,
    )

    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
    t.equal(sampleValue(metrics, 'passage_peer_nodes{state="healthy"}'), 1)
    t.equal(sampleValue(metrics, 'passage_peer_nodes{state="unhealthy"}'), 3)

    // The healthy one goes away: nothing changes until the interval has passed on the clock.
    await healthy.close()
    await app.peerNodes!.tick()
    t.same(
      (await app.inject({ method: 'GET', url: '/v1/nodes' })).json<NodeListJson>().nodes.length,
      1,
    )
    clock.advance(INTERVAL_MS - 1)
    await app.peerNodes!.tick()
    t.equal(app.peerNodes!.statuses()[0]!.healthy, true, 'not checked before the interval')
    clock.advance(1)
    await app.peerNodes!.tick()
    const after = (await app.inject({ method: 'GET', url: '/v1/nodes' })).json<NodeListJson>()
    t.same(after.nodes, [], 'left out once it stops answering')
    t.ok(after.seq > body.seq, 'a new list has a greater seq')
    t.equal(after.timestamp, T0 + INTERVAL_MS)
    t.match(app.peerNodes!.statuses()[0], {
      healthy: false,
      lastHealthy: T0,
      lastChecked: T0 + INTERVAL_MS,
      error: /ECONNREFUSED/,
    })
  })
}

t.test('a peer that is this server itself, or lies about its key, is not listed', async (t) => {
  const backend = backends[0]!
  const own = await appFixture(t, backend)
  const ownUrl = await listen(own.app)
  const self = new PeerNodeChecker({
    urls: [ownUrl],
    identity: own.identity,
    clock: own.clock,
    intervalMs: INTERVAL_MS,
    timeoutMs: TIMEOUT_MS,
    timers: null,
  })
  await self.checkAll()
  t.match(self.statuses()[0], { healthy: false, error: 'it is this server itself' })
  t.same(self.signedList().nodes, [])

  // /v1/info naming an ID that is not the hash of the key it shows.
  const other = await appFixture(t, backend)
  const liar = await appFixture(t, backend)
  liar.app.addHook('onSend', async (request, _reply, payload) => {
    if (request.url !== '/v1/info' || typeof payload !== 'string') return payload
    return JSON.stringify({ ...JSON.parse(payload), id: other.identity.textId })
  })
  const liarUrl = await listen(liar.app)
  const checker = new PeerNodeChecker({
    urls: [liarUrl],
    identity: own.identity,
    clock: own.clock,
    intervalMs: INTERVAL_MS,
    timeoutMs: TIMEOUT_MS,
    timers: null,
  })
  await checker.checkAll()
  t.match(checker.statuses()[0], {
    healthy: false,
    error: '/v1/info: the ID is not the hash of the public key',
  })
})

t.test('no peers configured: an empty signed list, no checks', async (t) => {
  const server = await appFixture(t, backends[0]!)
  await server.app.ready()
  const body = (await server.app.inject({ method: 'GET', url: '/v1/nodes' })).json<NodeListJson>()
  t.same(body.nodes, [])
  t.same(verifyNodeListRecord(body.record, server.identity.publicKey, libsignalKeys).nodes, [])
})

t.test('BootstrapClient.nodes() fetches and verifies the list over HTTP', async (t) => {
  const backend = backends[0]!
  const peer = await appFixture(t, backend)
  const peerUrl = await listen(peer.app)
  const server = await appFixture(t, backend, { config: { peerNodes: [peerUrl] } })
  const url = await listen(server.app)
  await server.app.peerNodes!.tick()
  const list = await new BootstrapClient({ keys: libsignalKeys, url }).nodes()
  t.same(list.publicKey, server.identity.publicKey)
  t.same(
    list.nodes.map((node) => ({ url: node.url, id: toBase64Url(node.id) })),
    [{ url: peerUrl, id: toBase64Url(peer.identity.id) }],
  )
  // Pinned to another server's ID: refused before the list is even read.
  await t.rejects(
    new BootstrapClient({ keys: libsignalKeys, url, serverId: peer.identity.id }).nodes(),
    KeyMismatchError,
  )
})
