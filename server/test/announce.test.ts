// POST /v1/announce, GET /v1/peers and GET /v1/peers/:id on real storage, both backends.
import { Identity, parseTextId, toBase64Url, fromBase64Url } from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import t from 'tap'
import { backends } from './helpers/databases.js'
import {
  announceCounts,
  appFixture,
  postAnnounce,
  signedAnnounce,
  T0,
} from './helpers/app-fixture.js'

const SKEW_MS = 60_000

for (const backend of backends) {
  t.test(backend.name, async (t) => {
    t.test('a valid announce is stored and listed; refusals are clear and counted', async (t) => {
      const {
        app,
        identity: server,
        clock,
      } = await appFixture(t, backend, {
        config: { peersPublic: true },
      })
      const alice = Identity.generate(libsignalKeys)
      const bob = Identity.generate(libsignalKeys)

      const aliceAnnounce = signedAnnounce(alice, server.id, { seq: 1, timestamp: T0 })
      const accepted = await postAnnounce(app, aliceAnnounce)
      t.equal(accepted.statusCode, 200, accepted.body)
      const answer = accepted.json()
      t.same(answer.observed, { host: '127.0.0.1', port: answer.observed.port })
      t.equal(answer.ttlMs, 600_000)
      t.equal(answer.expiresAt, T0 + 600_000)
      t.same(answer.peers, [], 'the announcer is never in its own sample')

      const bobAnswer = await postAnnounce(
        app,
        signedAnnounce(bob, server.id, {
          seq: 7,
          timestamp: T0 + 1_000,
          addresses: [
            { transport: 'tcp', host: '', port: 7401 },
            { transport: 'udp', host: 'bob.example', port: 7402 },
          ],
        }),
        { remoteAddress: '198.51.100.23' },
      )
      t.equal(bobAnswer.statusCode, 200, bobAnswer.body)
      t.equal(bobAnswer.json().observed.host, '198.51.100.23', 'observed address of the request')
      t.same(
        bobAnswer.json().peers.map((p: { id: string }) => p.id),
        [alice.textId],
        'the sample holds the other live peers',
      )

      const one = await app.inject({ method: 'GET', url: `/v1/peers/${alice.textId}` })
      t.equal(one.statusCode, 200)
      const peer = one.json()
      t.same(
        { ...peer, observed: undefined, expiresAt: undefined },
        { ...aliceAnnounce, observed: undefined, expiresAt: undefined },
        'the signed fields come back untouched',
      )
      t.equal(peer.observed.host, '127.0.0.1')
      t.equal(peer.expiresAt, T0 + 600_000)

      const upper = await app.inject({
        method: 'GET',
        url: `/v1/peers/${bob.textId.toUpperCase()}`,
      })
      t.equal(upper.statusCode, 200, 'text IDs are case-insensitive')
      t.equal(upper.json().observed.host, '198.51.100.23')
      t.same(upper.json().addresses[1], { transport: 'udp', host: 'bob.example', port: 7402 })

      const all = await app.inject({ method: 'GET', url: '/v1/peers' })
      t.same(
        all
          .json()
          .peers.map((p: { id: string }) => p.id)
          .sort(),
        [alice.textId, bob.textId].sort(),
      )
      const limited = await app.inject({ method: 'GET', url: '/v1/peers?limit=1' })
      t.equal(limited.json().peers.length, 1)
      const near = await app.inject({ method: 'GET', url: `/v1/peers?near=${bob.textId}&limit=2` })
      t.equal(near.json().peers[0].id, bob.textId, 'closest first: the ID itself')

      // ---- refusals, in the contract's order of checks ----
      const refusals: [string, unknown, number, string][] = []
      const forged = signedAnnounce(alice, server.id, { seq: 2, timestamp: T0 })
      const signature = fromBase64Url(forged.signature)
      signature[10] = signature[10]! ^ 0x01
      refusals.push([
        'forged signature',
        { ...forged, signature: toBase64Url(signature) },
        401,
        'PASSAGE_ERR_BAD_SIGNATURE',
      ])
      refusals.push([
        'signature of another key',
        {
          ...forged,
          signature: signedAnnounce(bob, server.id, { seq: 2, timestamp: T0 }).signature,
        },
        401,
        'PASSAGE_ERR_BAD_SIGNATURE',
      ])
      refusals.push([
        'ID of another key',
        { ...signedAnnounce(alice, server.id, { seq: 3, timestamp: T0 }), id: bob.textId },
        400,
        'PASSAGE_ERR_KEY_MISMATCH',
      ])
      refusals.push(['replayed: the same announce again', aliceAnnounce, 409, 'PASSAGE_ERR_REPLAY'])
      refusals.push([
        'replayed: a lower seq, freshly signed',
        signedAnnounce(bob, server.id, { seq: 6, timestamp: T0 }),
        409,
        'PASSAGE_ERR_REPLAY',
      ])
      refusals.push([
        'replayed: the same seq, freshly signed',
        signedAnnounce(bob, server.id, { seq: 7, timestamp: T0 + 2_000 }),
        409,
        'PASSAGE_ERR_REPLAY',
      ])
      refusals.push([
        'timestamp 61 s ahead',
        signedAnnounce(alice, server.id, { seq: 10, timestamp: T0 + SKEW_MS + 1_000 }),
        400,
        'PASSAGE_ERR_CLOCK_SKEW',
      ])
      refusals.push([
        'timestamp 61 s behind',
        signedAnnounce(alice, server.id, { seq: 11, timestamp: T0 - SKEW_MS - 1_000 }),
        400,
        'PASSAGE_ERR_CLOCK_SKEW',
      ])
      const otherServer = Identity.generate(libsignalKeys)
      refusals.push([
        'signed for another server',
        signedAnnounce(alice, otherServer.id, { seq: 12, timestamp: T0 }),
        421,
        'PASSAGE_ERR_WRONG_AUDIENCE',
      ])
      for (const [name, body, status, code] of refusals) {
        const res = await postAnnounce(app, body)
        t.equal(res.statusCode, status, `${name}: status`)
        const error = res.json()
        t.equal(error.code, code, `${name}: code`)
        t.equal(error.statusCode, status, `${name}: statusCode in the body`)
        t.type(error.error, 'string')
        t.ok(error.message.length > 10, `${name}: a message (${error.message})`)
      }

      // Within the window on both sides is fine, and a greater seq replaces the announce.
      clock.advance(10_000)
      const ahead = await postAnnounce(
        app,
        signedAnnounce(alice, server.id, { seq: 20, timestamp: clock.now() + SKEW_MS - 1_000 }),
      )
      t.equal(ahead.statusCode, 200, 'timestamp 59 s ahead is accepted')
      const behind = await postAnnounce(
        app,
        signedAnnounce(alice, server.id, { seq: 21, timestamp: clock.now() - SKEW_MS + 1_000 }),
      )
      t.equal(behind.statusCode, 200, 'timestamp 59 s behind is accepted')
      t.equal(
        (await app.inject({ method: 'GET', url: `/v1/peers/${alice.textId}` })).json().seq,
        21,
        'the latest announce is the one listed',
      )

      t.same(await announceCounts(app), {
        accepted: 4,
        invalid: 0,
        key_mismatch: 1,
        bad_signature: 2,
        wrong_audience: 1,
        skew: 2,
        replay: 3,
        rate_limited: 0,
        error: 0,
      })
    })

    t.test('malformed, oversized and non-JSON bodies: 4xx with a code, never 500', async (t) => {
      const { app, identity: server } = await appFixture(t, backend)
      const alice = Identity.generate(libsignalKeys)
      const good = signedAnnounce(alice, server.id, { seq: 1, timestamp: T0 })
      const typo =
        alice.textId.slice(0, 20) + (alice.textId[20] === 'q' ? 'p' : 'q') + alice.textId.slice(21)
      const { id: _id, ...withoutId } = good
      const cases: [string, unknown, number, string, RegExp][] = [
        ['missing field', withoutId, 400, 'PASSAGE_ERR_MALFORMED', /id/],
        [
          'missing signature',
          { ...good, signature: undefined },
          400,
          'PASSAGE_ERR_MALFORMED',
          /signature/,
        ],
        [
          'bad base64',
          { ...good, publicKey: '!!!not base64!!!' },
          400,
          'PASSAGE_ERR_MALFORMED',
          /publicKey/,
        ],
        [
          'short key',
          { ...good, publicKey: good.publicKey.slice(0, 20) },
          400,
          'PASSAGE_ERR_MALFORMED',
          /publicKey/,
        ],
        ['ID with a typo', { ...good, id: typo }, 400, 'PASSAGE_ERR_BAD_CHECKSUM', /typo|checksum/],
        ['not an ID', { ...good, audience: 'hello' }, 400, 'PASSAGE_ERR_MALFORMED', /ID/],
        [
          'port 0',
          { ...good, addresses: [{ transport: 'tcp', host: '', port: 0 }] },
          400,
          'PASSAGE_ERR_MALFORMED',
          /port/,
        ],
        [
          'port 70000',
          { ...good, addresses: [{ transport: 'tcp', host: '', port: 70_000 }] },
          400,
          'PASSAGE_ERR_MALFORMED',
          /addresses\[0\]\.port/,
        ],
        [
          'unknown transport',
          { ...good, addresses: [{ transport: 'sctp', host: '', port: 1 }] },
          400,
          'PASSAGE_ERR_MALFORMED',
          /transport/,
        ],
        [
          'bad host',
          { ...good, addresses: [{ transport: 'tcp', host: 'a b', port: 1 }] },
          400,
          'PASSAGE_ERR_MALFORMED',
          /host/,
        ],
        ['no addresses', { ...good, addresses: [] }, 400, 'PASSAGE_ERR_MALFORMED', /addresses/],
        ['seq as a string', { ...good, seq: '1' }, 400, 'PASSAGE_ERR_MALFORMED', /seq.*integer/],
        ['seq as a boolean', { ...good, seq: true }, 400, 'PASSAGE_ERR_MALFORMED', /seq/],
        ['negative seq', { ...good, seq: -1 }, 400, 'PASSAGE_ERR_MALFORMED', /seq/],
        [
          'fractional timestamp',
          { ...good, timestamp: T0 + 0.5 },
          400,
          'PASSAGE_ERR_MALFORMED',
          /timestamp/,
        ],
        ['unknown field', { ...good, admin: true }, 400, 'PASSAGE_ERR_MALFORMED', /admin/],
        ['an array', [good], 400, 'PASSAGE_ERR_MALFORMED', /object/],
        ['null', 'null', 400, 'PASSAGE_ERR_MALFORMED', /object/],
        ['broken JSON', '{"id": ', 400, 'PASSAGE_ERR_MALFORMED', /JSON/],
        ['empty body', '', 400, 'PASSAGE_ERR_MALFORMED', /empty/],
        [
          'oversized (20 KiB)',
          { ...good, padding: 'x'.repeat(20_000) },
          413,
          'PASSAGE_ERR_TOO_LARGE',
          /16 KiB/,
        ],
      ]
      for (const [name, body, status, code, message] of cases) {
        const res = await postAnnounce(app, body)
        t.equal(res.statusCode, status, `${name}: status (${res.body})`)
        t.equal(res.json().code, code, `${name}: code`)
        t.match(res.json().message, message, `${name}: the message names the problem`)
      }
      for (const type of [
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/octet-stream',
      ]) {
        const res = await app.inject({
          method: 'POST',
          url: '/v1/announce',
          payload: JSON.stringify(good),
          headers: { 'content-type': type },
        })
        t.equal(res.statusCode, 415, `${type}: 415`)
        t.equal(res.json().code, 'PASSAGE_ERR_MALFORMED')
        t.match(res.json().message, /application\/json/)
      }
      const counts = await announceCounts(app)
      t.equal(counts.invalid, cases.length + 3, 'every malformed announce counted as invalid')
      t.equal(counts.accepted, 0)

      // Bad query strings and IDs in paths: 400 too.
      const badQueries: [string, number, string][] = [
        ['/v1/peers?limit=0', 400, 'PASSAGE_ERR_MALFORMED'],
        ['/v1/peers?limit=101', 400, 'PASSAGE_ERR_MALFORMED'],
        ['/v1/peers?limit=ten', 400, 'PASSAGE_ERR_MALFORMED'],
        ['/v1/peers?near=nobody', 400, 'PASSAGE_ERR_MALFORMED'],
        [`/v1/peers?near=${typo}`, 400, 'PASSAGE_ERR_BAD_CHECKSUM'],
        ['/v1/peers/nobody', 400, 'PASSAGE_ERR_MALFORMED'],
        [`/v1/peers/${typo}`, 400, 'PASSAGE_ERR_BAD_CHECKSUM'],
        [`/v1/peers/${alice.textId}`, 404, 'PASSAGE_ERR_NOT_FOUND'],
        ['/v1/nothing-here', 404, 'PASSAGE_ERR_NOT_FOUND'],
      ]
      for (const [url, status, code] of badQueries) {
        const res = await app.inject({ method: 'GET', url })
        t.equal(res.statusCode, status, `${url}: status (${res.body})`)
        t.equal(res.json().code, code, `${url}: code`)
      }
      t.equal((await app.inject({ method: 'DELETE', url: '/v1/announce' })).statusCode, 404)
    })

    t.test('per-IP rate limit: 429 with Retry-After, counted', async (t) => {
      const { app, identity: server } = await appFixture(t, backend, {
        config: { rateLimitPerMinute: 3 },
      })
      const alice = Identity.generate(libsignalKeys)
      for (let seq = 1; seq <= 3; seq++) {
        const res = await postAnnounce(
          app,
          signedAnnounce(alice, server.id, { seq, timestamp: T0 }),
        )
        t.equal(res.statusCode, 200, `request ${seq} passes`)
      }
      const limited = await postAnnounce(
        app,
        signedAnnounce(alice, server.id, { seq: 4, timestamp: T0 }),
      )
      t.equal(limited.statusCode, 429)
      t.equal(limited.json().code, 'PASSAGE_ERR_RATE_LIMITED')
      const retryAfter = Number(limited.headers['retry-after'])
      t.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After in seconds (${retryAfter})`)
      t.equal(
        (await app.inject({ method: 'GET', url: '/v1/peers' })).statusCode,
        429,
        'every /v1 route shares the limit',
      )
      const other = await postAnnounce(
        app,
        signedAnnounce(alice, server.id, { seq: 5, timestamp: T0 }),
        { remoteAddress: '198.51.100.7' },
      )
      t.equal(other.statusCode, 200, 'another IP is not limited')
      for (const url of ['/healthz', '/readyz', '/metrics']) {
        t.equal(
          (await app.inject({ method: 'GET', url })).statusCode,
          200,
          `${url} is never limited`,
        )
      }
      const counts = await announceCounts(app)
      t.equal(counts.rate_limited, 1)
      t.equal(counts.accepted, 4)
    })

    t.test('expired announces disappear and are swept; live ones survive a restart', async (t) => {
      const first = await appFixture(t, backend, { config: { peersPublic: true } })
      const { identity: server, clock } = first
      const alice = Identity.generate(libsignalKeys)
      const bob = Identity.generate(libsignalKeys)
      t.equal(
        (await postAnnounce(first.app, signedAnnounce(alice, server.id, { timestamp: T0 })))
          .statusCode,
        200,
      )
      clock.advance(300_000)
      t.equal(
        (await postAnnounce(first.app, signedAnnounce(bob, server.id, { timestamp: clock.now() })))
          .statusCode,
        200,
      )

      // Restart: close the app and the storage, open the same storage again.
      await first.close()
      const database = await first.database.reopen()
      const second = await appFixture(t, backend, {
        database,
        clock,
        config: { peersPublic: true },
      })
      t.equal(second.identity.textId, server.textId, 'the server keeps its identity')
      for (const node of [alice, bob]) {
        const res = await second.app.inject({ method: 'GET', url: `/v1/peers/${node.textId}` })
        t.equal(res.statusCode, 200, 'a live announce survives the restart')
      }
      t.equal(
        (
          await postAnnounce(
            second.app,
            signedAnnounce(alice, server.id, { timestamp: clock.now() }),
          )
        ).statusCode,
        409,
        'replay protection survives the restart',
      )

      clock.set(T0 + 600_001) // alice expired, bob has 5 minutes left
      t.equal(
        (await second.app.inject({ method: 'GET', url: `/v1/peers/${alice.textId}` })).statusCode,
        404,
      )
      t.same(
        (await second.app.inject({ method: 'GET', url: '/v1/peers' }))
          .json()
          .peers.map((p: { id: string }) => p.id),
        [bob.textId],
      )
      const metrics = (await second.app.inject({ method: 'GET', url: '/metrics' })).body
      t.match(metrics, /^passage_live_peers 1$/m, 'live peers gauge from storage')
      t.equal(await second.store.sweep(clock.now()), 1, 'the expired row is swept')

      // An expired ID may announce again, even with an old seq.
      const again = await postAnnounce(
        second.app,
        signedAnnounce(alice, server.id, { seq: 1, timestamp: clock.now() }),
      )
      t.equal(again.statusCode, 200, again.body)
      t.equal(parseTextId(again.json().peers[0].id).length, 20)
    })
  })
}

t.test('peers are not listed unless the operator makes them public', async (t) => {
  const { app, identity: server } = await appFixture(t, backends[0]!)
  const alice = Identity.generate(libsignalKeys)
  const bob = Identity.generate(libsignalKeys)
  t.equal(
    (await postAnnounce(app, signedAnnounce(alice, server.id, { timestamp: T0 }))).statusCode,
    200,
  )
  const answer = await postAnnounce(app, signedAnnounce(bob, server.id, { timestamp: T0 }))
  t.equal(answer.statusCode, 200)
  t.same(answer.json().peers, [], 'an announce answer names nobody else')
  const get = (url: string) => app.inject({ method: 'GET', url })
  t.same((await get('/v1/peers')).json(), { peers: [] }, 'GET /v1/peers lists nobody')
  t.same(
    (await get(`/v1/peers?near=${alice.textId}&limit=5`)).json(),
    { peers: [] },
    '…near an ID either',
  )
  t.equal((await get('/v1/peers?limit=0')).statusCode, 400, 'the query is still checked')
  const one = await get(`/v1/peers/${alice.textId}`)
  t.equal(one.statusCode, 200, 'an ID the asker knows still resolves')
  t.equal(one.json().id, alice.textId)
  t.equal((await get('/v1/info')).json().peersPublic, false, '/v1/info says so')
  t.match((await get('/metrics')).body, /^passage_live_peers 2$/m, 'the count stays in /metrics')

  const open = await appFixture(t, backends[0]!, { config: { peersPublic: true } })
  await postAnnounce(open.app, signedAnnounce(alice, open.identity.id, { timestamp: T0 }))
  const listed = await open.app.inject({ method: 'GET', url: '/v1/peers' })
  t.same(
    listed.json().peers.map((p: { id: string }) => p.id),
    [alice.textId],
    '--peers-public lists them',
  )
  t.equal((await open.app.inject({ method: 'GET', url: '/v1/info' })).json().peersPublic, true)
})
