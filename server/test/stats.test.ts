// GET /v1/stats (docs/PROTOCOL.md section 6): version, uptime on the injected clock, live
// peers, mailbox count and bytes and the DHT routing-table size, the same figures /metrics
// shows; null mailboxes and DHT without a DHT node.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Identity, ManualClock, ManualTimers, type Bytes } from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import t from 'tap'
import { defaultConfig } from '../src/config.js'
import { startServer } from '../src/start-server.js'
import { SERVER_VERSION } from '../src/version.js'
import { appFixture, postAnnounce, sampleValue, signedAnnounce, T0 } from './helpers/app-fixture.js'
import { backends } from './helpers/databases.js'

const DAY_MS = 86_400_000
const DOC = readFileSync(fileURLToPath(new URL('../../docs/PROTOCOL.md', import.meta.url)), 'utf8')

/** The fields docs/PROTOCOL.md lists for `GET /v1/stats`. */
function documentedFields(): string[] {
  const rest = DOC.slice(DOC.indexOf('**`GET /v1/stats`** answers')).split('\n')
  const start = rest.findIndex((l) => /^\| field +\| meaning/.test(l))
  const names: string[] = []
  for (const line of rest.slice(start + 2)) {
    if (!line.startsWith('|')) break
    names.push(/^\| `(\w+)`/.exec(line)![1]!)
  }
  return names.sort()
}

t.test('a super-node with its DHT: the figures of /v1/stats and /metrics agree', async (t) => {
  const storage = await backends[1]!.prepare(t)
  const clock = new ManualClock(T0)
  const server = await startServer({
    config: defaultConfig({ httpHost: '127.0.0.1', httpPort: 0, dhtPort: 0, ...storage.options }),
    clock,
    dht: { timers: new ManualTimers(clock) },
  })
  t.teardown(() => server.close())
  const quota = { maxCount: 100, maxBytes: 1 << 20, maxSourceBytes: 1 << 20 }
  for (const [n, size] of [
    [1, 300],
    [2, 700],
  ] as const) {
    const outcome = await server.dht!.mailboxStore.put(
      {
        mailboxKey: new Uint8Array(20).fill(n) as Bytes,
        id: new Uint8Array(16).fill(n) as Bytes,
        data: new Uint8Array(size) as Bytes,
        source: '127.0.0.1',
        storedAt: T0,
        expiresAt: T0 + DAY_MS,
      },
      quota,
      T0,
    )
    t.equal(outcome, 'stored')
  }
  const node = Identity.generate(libsignalKeys)
  const announced = await fetch(`${server.url}/v1/announce`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(signedAnnounce(node, server.identity.id, { timestamp: T0 })),
  })
  t.equal(announced.status, 200)
  clock.advance(5_000)

  const res = await fetch(`${server.url}/v1/stats`)
  t.equal(res.status, 200)
  const body = (await res.json()) as Record<string, unknown>
  t.same(Object.keys(body).sort(), documentedFields(), 'the fields docs/PROTOCOL.md lists')
  t.same(body, {
    version: SERVER_VERSION,
    startedAt: T0,
    uptimeMs: 5_000,
    livePeers: 1,
    mailboxes: { messages: 2, bytes: 1_000 },
    dht: { routingTableNodes: 0 },
  })

  const metrics = await (await fetch(`${server.url}/metrics`)).text()
  t.equal(sampleValue(metrics, 'passage_mailbox_messages'), 2, '/metrics: the same count')
  t.equal(sampleValue(metrics, 'passage_mailbox_bytes'), 1_000, '…and bytes')
  t.equal(sampleValue(metrics, 'passage_dht_routing_table_nodes'), 0, '…and table size')
  t.equal(sampleValue(metrics, 'passage_live_peers'), 1, '…and live peers')
  t.equal(
    sampleValue(metrics, `passage_build_info{version="${SERVER_VERSION}"}`),
    1,
    '…and the version',
  )
  t.ok(sampleValue(metrics, 'passage_process_start_time_seconds'), '…and the start time')
})

t.test('without a DHT node: mailboxes and dht are null', async (t) => {
  const { app, clock, identity } = await appFixture(t, backends[0]!)
  await postAnnounce(
    app,
    signedAnnounce(Identity.generate(libsignalKeys), identity.id, { timestamp: T0 }),
  )
  clock.advance(1_234)
  const res = await app.inject({ method: 'GET', url: '/v1/stats' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), {
    version: SERVER_VERSION,
    startedAt: T0,
    uptimeMs: 1_234,
    livePeers: 1,
    mailboxes: null,
    dht: null,
  })
})

t.test('storage down: 503 PASSAGE_ERR_UNAVAILABLE, not a 500', async (t) => {
  const { app, database } = await appFixture(t, backends[1]!)
  await database.close()
  const res = await app.inject({ method: 'GET', url: '/v1/stats' })
  t.equal(res.statusCode, 503)
  t.equal(res.json<{ code: string }>().code, 'PASSAGE_ERR_UNAVAILABLE')
})
