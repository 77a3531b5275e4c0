// BootstrapClient against a tiny real HTTP server on 127.0.0.1 that returns canned answers:
// fault injection for refusals, forged peers and network failures. The client against the
// real super-node is tested in server/test/bootstrap-client.test.ts.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import {
  announceFromJson,
  announceToJson,
  BadChecksumError,
  BadSignatureError,
  BootstrapClient,
  ClockSkewError,
  createAnnounce,
  encodeTextId,
  Identity,
  KeyMismatchError,
  MalformedError,
  ManualClock,
  MAX_RESPONSE_BYTES,
  NoIdentityError,
  NotFoundError,
  type PassageError,
  RateLimitedError,
  RemoteError,
  ReplayError,
  RetryAfterError,
  TimeoutError,
  toBase64Url,
  TooLargeError,
  UnavailableError,
  verifyAnnounce,
  WrongAudienceError,
  type AnnounceJson,
} from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'

type HasTeardown = Pick<typeof t, 'teardown'>
type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void

const serverIdentity = Identity.generate(libsignalKeys)
const infoBody = {
  id: serverIdentity.textId,
  publicKey: toBase64Url(serverIdentity.publicKey),
  version: '0.1.0',
  dht: null,
  announceTtlMs: 600_000,
  announceSkewMs: 60_000,
}

function send(res: ServerResponse, status: number, body: unknown, headers = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}

function refusal(status: number, code: string, message: string) {
  return { statusCode: status, code, error: 'refused', message }
}

/** A canned server: /v1/info answers for `serverIdentity`, everything else goes to `handler`. */
async function cannedServer(t: HasTeardown, handler: Handler) {
  const seen: string[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk: Buffer) => (body += chunk.toString()))
    req.on('end', () => {
      seen.push(`${req.method} ${req.url}`)
      if (req.url === '/v1/info') return send(res, 200, infoBody)
      handler(req, body, res)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  )
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}`, seen }
}

function peerOf(identity: Identity, audience = serverIdentity, seq = 1) {
  const announce = createAnnounce(identity, {
    audience: audience.id,
    addresses: [{ transport: 'tcp', host: '127.0.0.1', port: 7400 }],
    seq,
    timestamp: Date.now(),
  })
  return {
    ...announceToJson(announce),
    observed: { host: '127.0.0.1', port: 51_234 },
    expiresAt: Date.now() + 600_000,
  }
}

function tamper(peer: ReturnType<typeof peerOf>) {
  const signature = Buffer.from(peer.signature, 'base64url')
  signature[10] = (signature[10] ?? 0) ^ 0x01
  return { ...peer, signature: signature.toString('base64url') }
}

t.test('every refusal code maps back to its SDK error class', async (t) => {
  const cases: [number, string, new (...args: never[]) => PassageError][] = [
    [400, 'PASSAGE_ERR_MALFORMED', MalformedError],
    [400, 'PASSAGE_ERR_BAD_CHECKSUM', BadChecksumError],
    [400, 'PASSAGE_ERR_KEY_MISMATCH', KeyMismatchError],
    [401, 'PASSAGE_ERR_BAD_SIGNATURE', BadSignatureError],
    [400, 'PASSAGE_ERR_CLOCK_SKEW', ClockSkewError],
    [421, 'PASSAGE_ERR_WRONG_AUDIENCE', WrongAudienceError],
    [409, 'PASSAGE_ERR_REPLAY', ReplayError],
    [413, 'PASSAGE_ERR_TOO_LARGE', TooLargeError],
    [404, 'PASSAGE_ERR_NOT_FOUND', NotFoundError],
    [503, 'PASSAGE_ERR_UNAVAILABLE', UnavailableError],
  ]
  let current = cases[0]!
  const { url } = await cannedServer(t, (_req, _body, res) => {
    send(res, current[0], refusal(current[0], current[1], `server says ${current[1]}`))
  })
  const client = new BootstrapClient({ url, identity: Identity.generate(libsignalKeys) })
  for (const c of cases) {
    current = c
    const error = await client
      .announce({ addresses: [{ transport: 'udp', host: '', port: 7400 }] })
      .catch((e: unknown) => e)
    t.ok(error instanceof c[2], `${c[1]} -> ${c[2].name}`)
    t.equal((error as PassageError).code, c[1])
    t.equal((error as Error).message, `server says ${c[1]}`, 'the server message is kept')
  }
})

t.test('429 is a RateLimitedError carrying Retry-After in ms', async (t) => {
  let header: Record<string, string> = { 'retry-after': '7' }
  const { url } = await cannedServer(t, (_req, _body, res) => {
    send(res, 429, refusal(429, 'PASSAGE_ERR_RATE_LIMITED', 'slow down'), header)
  })
  const clock = new ManualClock(Date.parse('2026-01-01T00:00:00Z'))
  const client = new BootstrapClient({ keys: libsignalKeys, url, clock })
  const error = await client.peers().catch((e: unknown) => e)
  t.ok(error instanceof RateLimitedError)
  t.ok(error instanceof RetryAfterError)
  t.equal((error as RetryAfterError).retryAfterMs, 7000)
  t.equal((error as RetryAfterError).code, 'PASSAGE_ERR_RATE_LIMITED')

  header = { 'retry-after': 'Thu, 01 Jan 2026 00:00:30 GMT' }
  const dated = await client.peers().catch((e: unknown) => e)
  t.equal((dated as RetryAfterError).retryAfterMs, 30_000, 'an HTTP date is turned into a delay')

  header = {}
  const bare = await client.peers().catch((e: unknown) => e)
  t.ok(bare instanceof RateLimitedError)
  t.equal((bare as RetryAfterError).retryAfterMs, undefined)
})

t.test('answers the client does not understand are RemoteErrors naming the server', async (t) => {
  let status = 500
  let body = '{"statusCode":500,"code":"PASSAGE_ERR_SOMETHING_NEW","message":"boom"}'
  const { url } = await cannedServer(t, (_req, _body, res) => {
    res.writeHead(status, { 'content-type': 'text/html' })
    res.end(body)
  })
  const client = new BootstrapClient({ keys: libsignalKeys, url })
  const unknown = await client.health().catch((e: unknown) => e)
  t.ok(unknown instanceof RemoteError)
  t.match((unknown as Error).message, /HTTP 500 PASSAGE_ERR_SOMETHING_NEW: boom/)
  t.match((unknown as Error).message, url.replace('http://', ''))

  status = 502
  body = '<html>Bad gateway</html>'
  const proxy = await client.health().catch((e: unknown) => e)
  t.ok(proxy instanceof RemoteError)
  t.match((proxy as Error).message, /HTTP 502/)

  status = 200
  body = '{"peers": "not a list"}'
  const garbage = await client.peers().catch((e: unknown) => e)
  t.ok(garbage instanceof RemoteError)
  t.match((garbage as Error).message, /does not understand/)
})

t.test('a server cannot forge peers: every peer is re-verified', async (t) => {
  const good = peerOf(Identity.generate(libsignalKeys))
  const forged = tamper(peerOf(Identity.generate(libsignalKeys)))
  const otherServer = peerOf(Identity.generate(libsignalKeys), Identity.generate(libsignalKeys))
  const wrongKey = {
    ...peerOf(Identity.generate(libsignalKeys)),
    id: Identity.generate(libsignalKeys).textId,
  }
  const malformed = { ...peerOf(Identity.generate(libsignalKeys)), publicKey: 'AAAA' }
  const { url, seen } = await cannedServer(t, (req, _body, res) => {
    send(res, 200, { peers: [forged, good, otherServer, wrongKey, malformed, 42] })
  })
  const rejected: string[] = []
  const client = new BootstrapClient({
    keys: libsignalKeys,
    url,
    onRejectedPeer: (_peer, reason) => rejected.push(reason.name),
  })
  const peers = await client.peers({ limit: 100, near: good.id })
  t.equal(peers.length, 1)
  t.equal(peers[0]?.textId, good.id)
  t.same(peers[0]?.observed, { host: '127.0.0.1', port: 51_234 })
  t.same(rejected, [
    'BadSignatureError',
    'WrongAudienceError',
    'KeyMismatchError',
    'MalformedError',
    'MalformedError',
  ])
  t.ok(seen.includes(`GET /v1/peers?near=${good.id}&limit=100`))
  await t.rejects(client.peers({ limit: 101 }), MalformedError)
})

t.test('resolve: undefined when not found, throws on a forgery or a typo', async (t) => {
  const alice = Identity.generate(libsignalKeys)
  const bob = Identity.generate(libsignalKeys)
  let answer: (res: ServerResponse) => void = (res) => send(res, 200, peerOf(alice))
  const { url, seen } = await cannedServer(t, (_req, _body, res) => answer(res))
  const client = new BootstrapClient({ keys: libsignalKeys, url })

  const found = await client.resolve(alice.textId.toUpperCase())
  t.equal(found?.textId, alice.textId)
  t.doesNotThrow(() => found && verifyAnnounce(found.announce, libsignalKeys))
  t.ok(seen.includes(`GET /v1/peers/${alice.textId}`))

  answer = (res) => send(res, 404, refusal(404, 'PASSAGE_ERR_NOT_FOUND', 'no live announce'))
  t.equal(await client.resolve(alice.id), undefined, 'not found is undefined, not an error')

  answer = (res) => send(res, 200, peerOf(bob))
  await t.rejects(client.resolve(alice.textId), KeyMismatchError, 'another ID is refused')

  answer = (res) => send(res, 200, tamper(peerOf(alice)))
  await t.rejects(client.resolve(alice.textId), BadSignatureError, 'a forgery is refused')

  const before = seen.length
  const typo =
    alice.textId.slice(0, 10) + (alice.textId[10] === 'q' ? 'p' : 'q') + alice.textId.slice(11)
  await t.rejects(client.resolve(typo), BadChecksumError)
  t.equal(seen.length, before, 'a typo never reaches the network')
})

t.test('announce signs for the server it talks to, with a growing seq', async (t) => {
  const me = Identity.generate(libsignalKeys)
  const received: AnnounceJson[] = []
  const { url, seen } = await cannedServer(t, (req, body, res) => {
    const json = JSON.parse(body) as AnnounceJson
    received.push(json)
    t.equal(req.headers['content-type'], 'application/json')
    send(res, 200, {
      observed: { host: '203.0.113.7', port: 40_000 },
      ttlMs: 600_000,
      expiresAt: json.timestamp + 600_000,
      peers: [
        peerOf(Identity.generate(libsignalKeys)),
        tamper(peerOf(Identity.generate(libsignalKeys))),
      ],
    })
  })
  const clock = new ManualClock(1_764_000_000_000)
  const client = new BootstrapClient({ url, identity: me, clock })
  const addresses = [{ transport: 'tcp' as const, host: '', port: 7400 }]
  const first = await client.announce({ addresses })
  const second = await client.announce({ addresses })
  clock.advance(5_000)
  const third = await client.announce({ addresses })
  t.same(first.observed, { host: '203.0.113.7', port: 40_000 })
  t.equal(first.ttlMs, 600_000)
  t.equal(first.peers.length, 1, 'the forged peer in the sample is dropped')
  t.same(
    received.map((r) => r.seq),
    [1_764_000_000_000, 1_764_000_000_001, 1_764_000_005_000],
  )
  t.equal(second.announce.seq, 1_764_000_000_001)
  t.equal(third.announce.timestamp, 1_764_000_005_000)
  for (const json of received) {
    t.equal(json.id, me.textId)
    t.equal(json.audience, serverIdentity.textId)
    t.doesNotThrow(() =>
      verifyAnnounce(announceFromJson(json), libsignalKeys, { audience: serverIdentity.id }),
    )
  }
  t.equal(seen.filter((s) => s === 'GET /v1/info').length, 1, "the server's ID is fetched once")

  const explicit = await client.announce({ addresses, seq: 5 })
  t.equal(explicit.announce.seq, 5)

  const anonymous = new BootstrapClient({ keys: libsignalKeys, url })
  await t.rejects(anonymous.announce({ addresses }), NoIdentityError)
})

t.test('info is checked: a server whose key does not hash to its ID is refused', async (t) => {
  const { url } = await cannedServer(t, (_req, _body, res) => send(res, 404, {}))
  const client = new BootstrapClient({ keys: libsignalKeys, url: url.replace('http://', '') })
  const info = await client.info()
  t.equal(info.textId, serverIdentity.textId)
  t.same(info.publicKey, serverIdentity.publicKey)
  t.equal(info.dht, null)
  t.equal(info.announceTtlMs, 600_000)

  const pinned = new BootstrapClient({ keys: libsignalKeys, url, serverId: serverIdentity.textId })
  t.equal((await pinned.info()).textId, serverIdentity.textId, 'the expected server passes')
  const impostor = new BootstrapClient({
    keys: libsignalKeys,
    url,
    serverId: Identity.generate(libsignalKeys).id,
  })
  const refused = await impostor.info().catch((e: unknown) => e)
  t.ok(refused instanceof KeyMismatchError, 'another server at that address is refused')
  t.match((refused as Error).message, /not the expected p1/)
  await t.rejects(impostor.peers(), KeyMismatchError, 'and nothing is asked of it')

  const liar = createServer((_req, res) =>
    send(res, 200, { ...infoBody, id: encodeTextId(Identity.generate(libsignalKeys).id) }),
  )
  await new Promise<void>((resolve) => liar.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => liar.close(() => resolve())))
  const { port } = liar.address() as AddressInfo
  await t.rejects(
    new BootstrapClient({ keys: libsignalKeys, url: `http://127.0.0.1:${port}` }).info(),
    KeyMismatchError,
  )
})

t.test('health and readiness; an unready server is an answer, not an error', async (t) => {
  let ready = true
  const { url } = await cannedServer(t, (req, _body, res) => {
    if (req.url === '/healthz') return send(res, 200, { status: 'ok' })
    if (ready) return send(res, 200, { status: 'ready', checks: { storage: 'ok' } })
    send(res, 503, { status: 'unready', checks: { storage: 'connection refused' } })
  })
  const client = new BootstrapClient({ keys: libsignalKeys, url })
  t.same(await client.health(), { status: 'ok' })
  t.same(await client.ready(), { ready: true, status: 'ready', checks: { storage: 'ok' } })
  ready = false
  t.same(await client.ready(), {
    ready: false,
    status: 'unready',
    checks: { storage: 'connection refused' },
  })
})

t.test('network failures: refused, timed out, aborted', async (t) => {
  // A port that was just free: nothing listens there.
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port: closedPort } = probe.address() as AddressInfo
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  const refused = await new BootstrapClient({
    keys: libsignalKeys,
    url: `http://127.0.0.1:${closedPort}`,
  })
    .health()
    .catch((e: unknown) => e)
  t.ok(refused instanceof RemoteError)
  t.match((refused as Error).message, `127.0.0.1:${closedPort}`)
  t.match((refused as Error).message, /connection refused/)
  t.match((refused as Error).message, /check the URL/)

  const pending: ServerResponse[] = []
  const { url } = await cannedServer(t, (_req, _body, res) => void pending.push(res))
  const slow = new BootstrapClient({ keys: libsignalKeys, url, timeoutMs: 150 })
  const timedOut = await slow.health().catch((e: unknown) => e)
  t.ok(timedOut instanceof TimeoutError)
  t.match((timedOut as Error).message, /did not answer GET \/healthz within 0.15 s/)

  const controller = new AbortController()
  const patient = new BootstrapClient({ keys: libsignalKeys, url })
  const aborted = patient.health({ signal: controller.signal })
  controller.abort(new Error('user pressed Ctrl-C'))
  await t.rejects(aborted, { message: 'user pressed Ctrl-C' })
  await t.rejects(patient.health({ signal: AbortSignal.abort() }), { name: 'AbortError' })

  t.throws(
    () => new BootstrapClient({ keys: libsignalKeys, url: 'ftp://example.org' }),
    MalformedError,
  )
  t.throws(() => new BootstrapClient({ keys: libsignalKeys, url, timeoutMs: 0 }), MalformedError)
})

t.test('the live peer count from /metrics, when the server exposes it', async (t) => {
  let answer: (res: ServerResponse) => void = (res) => {
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
    res.end(
      '# HELP passage_live_peers Live peers\n# TYPE passage_live_peers gauge\npassage_live_peers 42\npassage_live_peers_other 7\n',
    )
  }
  const { url } = await cannedServer(t, (_req, _body, res) => answer(res))
  const client = new BootstrapClient({ keys: libsignalKeys, url })
  t.equal(await client.livePeerCount(), 42)
  answer = (res) => send(res, 403, { message: 'private' })
  t.equal(await client.livePeerCount(), undefined, 'a private /metrics is not an error')
  answer = (res) => send(res, 404, refusal(404, 'PASSAGE_ERR_NOT_FOUND', 'no route'))
  t.equal(await client.livePeerCount(), undefined)
  answer = (res) => {
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.end('passage_live_peers NaN\n')
  }
  t.equal(await client.livePeerCount(), undefined)
})

t.test('an oversized answer is refused, not buffered forever', async (t) => {
  const { url } = await cannedServer(t, (_req, _body, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ peers: [], padding: 'x'.repeat(MAX_RESPONSE_BYTES) }))
  })
  const error = await new BootstrapClient({ keys: libsignalKeys, url })
    .peers()
    .catch((e: unknown) => e)
  t.ok(error instanceof RemoteError)
  t.match((error as Error).message, /over the 1048576/)
})

t.test('concurrent announces never share a seq', async (t) => {
  const seqs: number[] = []
  const { url } = await cannedServer(t, (_req, body, res) => {
    seqs.push((JSON.parse(body) as AnnounceJson).seq)
    send(res, 200, { observed: { host: '127.0.0.1', port: 1 }, ttlMs: 1, expiresAt: 1, peers: [] })
  })
  const client = new BootstrapClient({
    url,
    identity: Identity.generate(libsignalKeys),
    clock: new ManualClock(),
  })
  await client.info()
  const addresses = [{ transport: 'tcp' as const, host: '', port: 7400 }]
  await Promise.all([1, 2, 3, 4].map(() => client.announce({ addresses })))
  t.equal(new Set(seqs).size, 4)
})
