// Health, readiness, info, OpenAPI, metrics (checked by promtool), logs, the sweeper.
import { spawnSync } from 'node:child_process'
import { Writable } from 'node:stream'
import { Identity, nodeIdToHex, toBase64Url } from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import { pino } from 'pino'
import t from 'tap'
import { publishedEndpoint } from '../src/routes/info.js'
import { AnnounceSweeper, type IntervalTimers } from '../src/announce-sweeper.js'
import { createLogger } from '../src/logger.js'
import { backends } from './helpers/databases.js'
import {
  announceCounts,
  appFixture,
  postAnnounce,
  signedAnnounce,
  T0,
} from './helpers/app-fixture.js'

for (const backend of backends) {
  t.test(`${backend.name}: health, readiness and info`, async (t) => {
    const fixture = await appFixture(t, backend, { config: { announceTtlMs: 120_000 } })
    const { app, identity } = fixture

    const health = await app.inject({ method: 'GET', url: '/healthz' })
    t.equal(health.statusCode, 200)
    t.same(health.json(), { status: 'ok' })

    const ready = await app.inject({ method: 'GET', url: '/readyz' })
    t.equal(ready.statusCode, 200)
    t.same(ready.json(), { status: 'ready', checks: { storage: 'ok' } })

    const info = await app.inject({ method: 'GET', url: '/v1/info' })
    t.equal(info.statusCode, 200)
    t.same(info.json(), {
      id: identity.textId,
      publicKey: toBase64Url(identity.publicKey),
      version: '0.1.0',
      dht: null,
      relay: null,
      announceTtlMs: 120_000,
      announceSkewMs: 60_000,
      peersPublic: false,
    })

    // A check added later (the DHT's) takes part, and the 503 says which one failed and why.
    fixture.app.passage.readinessChecks.push({
      name: 'dht',
      check: async () => {
        throw new Error('no DHT peers reachable')
      },
    })
    const noDht = await app.inject({ method: 'GET', url: '/readyz' })
    t.equal(noDht.statusCode, 503)
    t.same(noDht.json().checks, { storage: 'ok', dht: 'no DHT peers reachable' })
    fixture.app.passage.readinessChecks.pop()

    await fixture.database.close()
    const closed = await app.inject({ method: 'GET', url: '/readyz' })
    t.equal(closed.statusCode, 503, 'storage closed: not ready')
    const body = closed.json()
    t.equal(body.status, 'unready')
    t.equal(body.code, 'PASSAGE_ERR_UNAVAILABLE')
    t.not(body.checks.storage, 'ok')
    t.ok(body.checks.storage.length > 0, `the reason: ${body.checks.storage}`)
    t.match(body.message, /^not ready: storage: /)
    t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'still alive')
    const metrics = await app.inject({ method: 'GET', url: '/metrics' })
    t.equal(metrics.statusCode, 200, '/metrics answers with storage down')
  })
}

t.test('the DHT endpoint in /v1/info comes from the config', async (t) => {
  const { app } = await appFixture(t, backends[1]!, {
    config: { dhtEndpoint: { host: '127.0.0.1', port: 7000 } },
  })
  t.same((await app.inject({ method: 'GET', url: '/v1/info' })).json().dht, {
    host: '127.0.0.1',
    port: 7000,
  })
})

t.test('a DHT on a wildcard address is published at the IP the client reached', async (t) => {
  const { app } = await appFixture(t, backends[1]!, {
    config: { dhtEndpoint: { host: '0.0.0.0', port: 7401 } },
  })
  const info = async (host: string) =>
    (await app.inject({ method: 'GET', url: '/v1/info', headers: { host } })).json().dht
  const wildcard = { host: '0.0.0.0', port: 7401 }
  t.same(publishedEndpoint(wildcard, 'node.example.org', '::ffff:192.0.2.7'), {
    host: '192.0.2.7',
    port: 7401,
  })
  t.same(publishedEndpoint({ host: '192.0.2.1', port: 9 }, 'x.org', '127.0.0.1'), {
    host: '192.0.2.1',
    port: 9,
  })
  t.same(await info('203.0.113.9'), { host: '203.0.113.9', port: 7401 })
  t.same(await info('[2001:db8::1]:8080'), { host: '2001:db8::1', port: 7401 })
})

t.test('/docs/json is an OpenAPI document of every route', async (t) => {
  const { app } = await appFixture(t, backends[1]!)
  const docs = await app.inject({ method: 'GET', url: '/docs' })
  t.equal(docs.statusCode, 302, '/docs (the address OPERATING.md names) is not a 404…')
  t.equal(docs.headers.location, '/docs/json', '…it sends to the document')
  const res = await app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(res.statusCode, 200)
  const doc = res.json()
  t.equal(doc.openapi, '3.1.0')
  t.equal(doc.info.version, '0.1.0')
  const operations = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
    .flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`))
    .sort()
  t.same(operations, [
    'GET /healthz',
    'GET /metrics',
    'GET /readyz',
    'GET /v1/info',
    'GET /v1/nodes',
    'GET /v1/peers',
    'GET /v1/peers/{id}',
    'GET /v1/stats',
    'POST /v1/announce',
  ])
  const announce = doc.paths['/v1/announce'].post
  t.same(Object.keys(announce.requestBody.content['application/json'].schema.properties).sort(), [
    'addresses',
    'audience',
    'id',
    'publicKey',
    'seq',
    'signature',
    'timestamp',
  ])
  t.same(Object.keys(announce.responses).sort(), [
    '200',
    '400',
    '401',
    '409',
    '413',
    '415',
    '421',
    '429',
    '503',
  ])
  const errorSchema = announce.responses['409'].content['application/json'].schema
  t.same(errorSchema.required, ['statusCode', 'code', 'error', 'message'])
  const peers = doc.paths['/v1/peers'].get
  t.same(peers.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`).sort(), [
    'query:limit',
    'query:near',
  ])
  t.equal(doc.paths['/v1/peers/{id}'].get.parameters[0].in, 'path')
})

t.test('/metrics passes promtool and carries every passage_ metric', async (t) => {
  const { app, identity } = await appFixture(t, backends[0]!, { defaultMetrics: true })
  const alice = Identity.generate(libsignalKeys)
  t.equal(
    (await postAnnounce(app, signedAnnounce(alice, identity.id, { timestamp: T0 }))).statusCode,
    200,
  )
  t.equal(
    (await postAnnounce(app, signedAnnounce(alice, identity.id, { timestamp: T0 }))).statusCode,
    409,
  )
  await app.inject({ method: 'GET', url: `/v1/peers/${alice.textId}` })
  await app.inject({ method: 'GET', url: '/no/such/route' })
  const res = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  const text = res.body

  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
  t.equal(promtool.error, undefined, 'promtool runs (Debian package prometheus)')
  t.equal(promtool.status, 0, `promtool check metrics: ${promtool.stdout}${promtool.stderr}`)

  t.match(text, /^passage_announces_total\{result="accepted"\} 1$/m)
  t.match(text, /^passage_announces_total\{result="replay"\} 1$/m)
  t.match(text, /^passage_announces_total\{result="bad_signature"\} 0$/m, 'zero from the start')
  t.match(text, /^passage_live_peers 1$/m)
  t.match(
    text,
    /^passage_http_request_duration_seconds_count\{method="POST",route="\/v1\/announce",status="200"\} 1$/m,
  )
  t.match(
    text,
    /^passage_http_request_duration_seconds_count\{method="GET",route="\/v1\/peers\/:id",status="200"\} 1$/m,
  )
  t.match(text, /route="unmatched",status="404"/)
  t.notMatch(text, new RegExp(alice.textId), 'route patterns, never raw URLs')
  t.notMatch(text, /no\/such\/route/)
  t.match(
    text,
    /^passage_storage_query_duration_seconds_count\{storage="postgres",operation="insert"\} [1-9]/m,
  )
  t.match(
    text,
    /^passage_storage_query_duration_seconds_count\{storage="postgres",operation="select"\} [1-9]/m,
  )
  t.match(text, /^passage_process_cpu_seconds_total /m, 'default process metrics, prefixed')
  t.match(text, /^passage_nodejs_eventloop_lag_seconds /m)
  const names = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!)
  t.ok(names.length > 10)
  t.same(
    names.filter((n) => !n.startsWith('passage_')),
    [],
    'every metric is prefixed passage_',
  )
})

t.test('logs are JSON and carry no client IP, ID or key at info level', async (t) => {
  const lines: string[] = []
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(
        ...String(chunk)
          .split('\n')
          .filter((l) => l !== ''),
      )
      done()
    },
  })
  const logger = createLogger('info', sink)
  const { app, identity } = await appFixture(t, backends[1]!, { logger })
  const alice = Identity.generate(libsignalKeys)
  const ip = '198.51.100.77'
  const announce = signedAnnounce(alice, identity.id, { timestamp: T0 })
  t.equal((await postAnnounce(app, announce, { remoteAddress: ip })).statusCode, 200)
  t.equal((await postAnnounce(app, announce, { remoteAddress: ip })).statusCode, 409)
  const forged = { ...announce, seq: 2 }
  t.equal((await postAnnounce(app, forged, { remoteAddress: ip })).statusCode, 401)
  await app.inject({ method: 'GET', url: `/v1/peers/${alice.textId}`, remoteAddress: ip })
  await app.inject({ method: 'GET', url: `/v1/peers?near=${alice.textId}`, remoteAddress: ip })
  await app.inject({ method: 'GET', url: `/v1/peers/${alice.textId}x`, remoteAddress: ip })
  await app.inject({
    method: 'GET',
    url: '/v1/info',
    remoteAddress: ip,
    headers: { 'x-forwarded-for': '203.0.113.9' },
  })
  t.ok(lines.length >= 7, `one line per request (${lines.length})`)
  for (const line of lines) {
    const entry = JSON.parse(line) as Record<string, unknown>
    t.type(entry.level, 'number')
  }
  const all = lines.join('\n')
  for (const secret of [
    ip,
    '203.0.113.9',
    alice.textId,
    nodeIdToHex(alice.id),
    announce.publicKey,
    announce.signature,
  ]) {
    t.notOk(all.includes(secret), `no ${secret.slice(0, 16)}… in the logs`)
  }
  t.match(all, /"route":"\/v1\/peers\/:id"/, 'requests are logged by route pattern')
  t.match(all, /"statusCode":409/)
})

t.test(
  'failures: storage down is a 503 to retry, a bug a 500; both logged, neither shown',
  async (t) => {
    const lines: string[] = []
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk))
        done()
      },
    })
    const fixture = await appFixture(t, backends[1]!, {
      logger: pino({ level: 'info' }, sink),
      config: { peersPublic: true },
    })
    const { app, store, clock } = fixture
    store.sample = async () => {
      throw new Error('disk on fire')
    }
    const down = await app.inject({ method: 'GET', url: '/v1/peers' })
    t.equal(down.statusCode, 503)
    t.equal(down.json().code, 'PASSAGE_ERR_UNAVAILABLE')
    t.match(down.json().message, /retry later/)
    t.notMatch(down.body, /disk on fire/)
    t.match(lines.join(''), /disk on fire/, 'the cause is in the log')
    const identity = Identity.generate(libsignalKeys)
    store.put = async () => {
      throw new Error('disk on fire')
    }
    const announce = await postAnnounce(
      app,
      signedAnnounce(identity, fixture.identity.id, { timestamp: T0 }),
    )
    t.equal(announce.statusCode, 503)
    t.equal((await announceCounts(app)).error, 1, 'counted as the server failing, not as invalid')

    clock.now = () => {
      throw new TypeError('a bug')
    }
    const bug = await app.inject({ method: 'GET', url: '/v1/peers' })
    t.equal(bug.statusCode, 500)
    t.equal(bug.json().code, 'PASSAGE_ERR_INTERNAL')
    t.notMatch(bug.body, /a bug/)
    t.match(lines.join(''), /a bug/)
  },
)

t.test('the sweeper deletes expired announces on its timer', async (t) => {
  const { app, identity, store, clock } = await appFixture(t, backends[1]!)
  let tick: (() => void) | undefined
  let cleared = false
  const timers: IntervalTimers = {
    setInterval: (callback, ms) => {
      t.equal(ms, 60_000)
      tick = callback
      return 1
    },
    clearInterval: () => {
      cleared = true
    },
  }
  const sweeper = new AnnounceSweeper({ store, clock, intervalMs: 60_000, timers })
  sweeper.start()
  t.ok(tick, 'timer set')
  const alice = Identity.generate(libsignalKeys)
  t.equal(
    (await postAnnounce(app, signedAnnounce(alice, identity.id, { timestamp: T0 }))).statusCode,
    200,
  )
  t.equal(await sweeper.sweepOnce(), 0, 'nothing expired yet')
  clock.advance(600_001)
  t.equal(await store.countLive(clock.now()), 0)
  tick!()
  t.equal(await sweeper.sweepOnce(), 1, 'the tick swept it (this call joins that sweep)')
  t.equal(await store.sweep(clock.now()), 0, 'no expired row left')
  await sweeper.stop()
  t.ok(cleared, 'stop clears the timer')
})
