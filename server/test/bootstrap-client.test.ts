// The SDK's BootstrapClient against the real super-node app, listening on 127.0.0.1:0, on
// both storage backends: announces, peer lists and lookups round-trip and verify; every
// refusal of the server arrives as the SDK's typed error.
import {
  BadSignatureError,
  BootstrapClient,
  ClockSkewError,
  Identity,
  MalformedError,
  ManualClock,
  RateLimitedError,
  ReplayError,
  RetryAfterError,
  TooLargeError,
  WrongAudienceError,
  type AnnounceJson,
} from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { appFixture, T0, type FixtureOptions } from './helpers/app-fixture.js'
import { backends, type Backend, type TeardownHost } from './helpers/databases.js'

const SKEW_MS = 60_000
const TCP = [{ transport: 'tcp' as const, host: '', port: 7400 }]

/** The app of a fresh fixture, listening on a free loopback port; closed by the fixture. */
async function listening(t: TeardownHost, backend: Backend, options: FixtureOptions = {}) {
  const fixture = await appFixture(t, backend, options)
  const url = await listen(fixture.app)
  return { ...fixture, url }
}

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (!address || typeof address === 'string') throw new Error('not listening on TCP')
  return `http://127.0.0.1:${address.port}`
}

/** A fetch that rewrites the JSON body of POST /v1/announce before it leaves. */
function tamperingFetch(edit: (json: AnnounceJson) => unknown): typeof fetch {
  return (input, init) => {
    if (init?.method === 'POST' && typeof init.body === 'string') {
      const edited = edit(JSON.parse(init.body) as AnnounceJson)
      return fetch(input, {
        ...init,
        body: typeof edited === 'string' ? edited : JSON.stringify(edited),
      })
    }
    return fetch(input, init)
  }
}

for (const backend of backends) {
  t.test(backend.name, async (t) => {
    t.test('announce, peers and resolve round-trip and verify', async (t) => {
      const clock = new ManualClock(T0)
      const { url, identity: server } = await listening(t, backend, {
        clock,
        config: { peersPublic: true },
      })
      const alice = Identity.generate(libsignalKeys)
      const bob = Identity.generate(libsignalKeys)
      const aliceClient = new BootstrapClient({ url, identity: alice, clock })
      const bobClient = new BootstrapClient({ url, identity: bob, clock })

      const info = await aliceClient.info()
      t.equal(info.textId, server.textId)
      t.same(info.publicKey, server.publicKey)
      t.equal(info.announceTtlMs, 600_000)
      t.same(await aliceClient.health(), { status: 'ok' })
      t.match(await aliceClient.ready(), { ready: true, checks: { storage: 'ok' } })

      const first = await aliceClient.announce({ addresses: TCP })
      t.same(first.observed.host, '127.0.0.1')
      t.ok(first.observed.port > 0)
      t.equal(first.ttlMs, 600_000)
      t.equal(first.expiresAt, T0 + 600_000)
      t.same(first.peers, [], 'the announcer is never in its own sample')

      clock.advance(1_000)
      const second = await bobClient.announce({
        addresses: [...TCP, { transport: 'udp', host: 'bob.example', port: 7401 }],
      })
      t.same(
        second.peers.map((p) => p.textId),
        [alice.textId],
      )

      const found = await bobClient.resolve(alice.textId)
      t.equal(found?.textId, alice.textId)
      t.same(found?.announce.addresses, TCP)
      t.same(found?.observed.host, '127.0.0.1')
      t.equal(
        await aliceClient.resolve(Identity.generate(libsignalKeys).id),
        undefined,
        'unknown: undefined',
      )

      const near = await aliceClient.peers({ near: bob.id, limit: 2 })
      t.same(
        near.map((p) => p.textId),
        [bob.textId, alice.textId],
        'closest to bob first',
      )
      t.equal((await aliceClient.peers({ limit: 1 })).length, 1)

      // A later announce of the same client supersedes the first (its seq grew).
      clock.advance(1_000)
      await aliceClient.announce({ addresses: [{ transport: 'tcp', host: '', port: 7500 }] })
      t.equal((await bobClient.resolve(alice.textId))?.announce.addresses[0]?.port, 7500)
    })

    t.test('each refusal of the real server is the typed SDK error', async (t) => {
      const clock = new ManualClock(T0)
      const { url } = await listening(t, backend, { clock })
      const me = Identity.generate(libsignalKeys)
      const client = new BootstrapClient({ url, identity: me, clock })
      await client.announce({ addresses: TCP, seq: 10 })

      const replay = await client.announce({ addresses: TCP, seq: 10 }).catch((e: unknown) => e)
      t.ok(replay instanceof ReplayError, 'same seq again')
      t.equal((replay as ReplayError).code, 'PASSAGE_ERR_REPLAY')
      t.ok((replay as Error).message.length > 10, 'with the server message')
      await t.rejects(client.announce({ addresses: TCP, seq: 9 }), ReplayError, 'seq went down')

      const late = new BootstrapClient({
        url,
        identity: Identity.generate(libsignalKeys),
        clock: new ManualClock(T0 + 2 * SKEW_MS),
      })
      await t.rejects(late.announce({ addresses: TCP }), ClockSkewError)

      const forged = new BootstrapClient({
        url,
        identity: Identity.generate(libsignalKeys),
        clock,
        fetch: tamperingFetch((json) => {
          const signature = Buffer.from(json.signature, 'base64url')
          signature[0] = (signature[0] ?? 0) ^ 0x01
          return { ...json, signature: signature.toString('base64url') }
        }),
      })
      await t.rejects(forged.announce({ addresses: TCP }), BadSignatureError)

      const malformed = new BootstrapClient({
        url,
        identity: Identity.generate(libsignalKeys),
        clock,
        fetch: tamperingFetch((json) => ({ ...json, publicKey: 'not base64url!' })),
      })
      await t.rejects(malformed.announce({ addresses: TCP }), MalformedError)

      const huge = new BootstrapClient({
        url,
        identity: Identity.generate(libsignalKeys),
        clock,
        fetch: tamperingFetch((json) => ({ ...json, padding: 'x'.repeat(20_000) })),
      })
      await t.rejects(huge.announce({ addresses: TCP }), TooLargeError)
    })

    t.test('an announce signed for one server is refused by another', async (t) => {
      const clock = new ManualClock(T0)
      const one = await listening(t, backend, { clock })
      const other = await listening(t, backend, { clock })
      // The client learns server one's ID, then its announce is delivered to server two.
      const misrouted = new BootstrapClient({
        url: one.url,
        identity: Identity.generate(libsignalKeys),
        clock,
        fetch: (input, init) =>
          fetch(init?.method === 'POST' ? String(input).replace(one.url, other.url) : input, init),
      })
      const error = await misrouted.announce({ addresses: TCP }).catch((e: unknown) => e)
      t.ok(error instanceof WrongAudienceError, String(error))
    })

    t.test('rate limited: RateLimitedError with Retry-After', async (t) => {
      const clock = new ManualClock(T0)
      const { url } = await listening(t, backend, { clock, config: { rateLimitPerMinute: 2 } })
      const client = new BootstrapClient({ keys: libsignalKeys, url, clock })
      let error: unknown
      for (let i = 0; i < 5 && !error; i++) {
        error = await client.peers().then(
          () => undefined,
          (e: unknown) => e,
        )
      }
      t.ok(error instanceof RateLimitedError, String(error))
      t.ok(error instanceof RetryAfterError)
      t.ok(((error as RetryAfterError).retryAfterMs ?? 0) > 0, 'Retry-After is passed on')
    })
  })
}
