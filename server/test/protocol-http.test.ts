// docs/PROTOCOL.md section 6 ("Bootstrap HTTP API") against the server: the routes and the
// statuses each may answer (as the server's own OpenAPI document lists them), the fields of
// /v1/info and of an accepted announce, the peers query, the body limit and the error codes.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { fromBase64Url, Identity, nodeIdFromPublicKey, parseTextId } from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import t from 'tap'
import { BODY_LIMIT_BYTES } from '../src/config.js'
import { statusOfCode } from '../src/plugins/errors.js'
import { appFixture, postAnnounce, signedAnnounce, T0 } from './helpers/app-fixture.js'
import { backends } from './helpers/databases.js'

const DOC = readFileSync(fileURLToPath(new URL('../../docs/PROTOCOL.md', import.meta.url)), 'utf8')
const SECTION = DOC.slice(
  DOC.indexOf('## 6. Bootstrap HTTP API'),
  DOC.indexOf('\n## ', DOC.indexOf('## 6. Bootstrap HTTP API') + 1),
)

/** The rows (cells) of the table whose header line matches `header`, in section 6. */
function table(header: RegExp): string[][] {
  const lines = SECTION.split('\n')
  const start = lines.findIndex((l) => header.test(l))
  if (start < 0) throw new Error(`section 6 has no table with the header ${header}`)
  const rows: string[][] = []
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break
    rows.push(
      line
        .slice(1, -1)
        .split(' | ')
        .map((c) => c.trim()),
    )
  }
  return rows
}

/** The field names of a `| field | meaning |` table that follows `intro`. */
function fields(intro: string): string[] {
  const at = SECTION.indexOf(intro)
  if (at < 0) throw new Error(`section 6 has no "${intro}"`)
  const rest = SECTION.slice(at).split('\n')
  const start = rest.findIndex((l) => /^\| field +\| meaning/.test(l))
  const names: string[] = []
  for (const line of rest.slice(start + 2)) {
    if (!line.startsWith('|')) break
    names.push(/^\| `(\w+)`/.exec(line)![1]!)
  }
  return names.sort()
}

const backend = backends[0]!

t.test('every documented route answers exactly the documented statuses', async (t) => {
  const { app } = await appFixture(t, backend)
  const openApi = (await app.inject({ method: 'GET', url: '/docs/json' })).json<{
    paths: Record<string, Record<string, { responses: Record<string, unknown> }>>
  }>()
  const rows = table(/^\| method and path +\| answer/)
  t.ok(rows.length >= 7)
  const documented = new Set<string>()
  for (const [route = '', , refusals = ''] of rows) {
    const [method = '', path = ''] = route.replace(/`/g, '').split(' ')
    documented.add(`${method} ${path}`)
    const answers = openApi.paths[path]?.[method.toLowerCase()]?.responses
    t.ok(answers, `${method} ${path} exists`)
    const statuses = Object.keys(answers ?? {}).filter((s) => s !== '200')
    const listed = [...refusals.matchAll(/\b([45]\d\d)\b/g)].map((m) => m[1]!)
    t.same(statuses.sort(), listed.sort(), `${method} ${path}: refusals ${listed.join(', ')}`)
  }
  // Every public route of the API is in the document (metrics and docs are for operators).
  for (const [path, methods] of Object.entries(openApi.paths)) {
    for (const method of Object.keys(methods)) {
      if (path === '/metrics') continue
      t.ok(documented.has(`${method.toUpperCase()} ${path}`), `${method} ${path} is documented`)
    }
  }
})

t.test('/v1/info has the documented fields; dht is the DHT endpoint or null', async (t) => {
  const documented = fields('**`GET /v1/info`** answers')
  const none = await appFixture(t, backend)
  const info = (await none.app.inject({ method: 'GET', url: '/v1/info' })).json<
    Record<string, unknown>
  >()
  t.same(Object.keys(info).sort(), documented)
  t.equal(info.dht, null, 'no DHT: null')
  t.equal(info.id, none.identity.textId)
  t.same(
    parseTextId(String(info.id)),
    nodeIdFromPublicKey(fromBase64Url(String(info.publicKey), 'publicKey')),
    'id is the hash of publicKey',
  )
  const withDht = await appFixture(t, backend, {
    config: { dhtEndpoint: { host: '127.0.0.1', port: 7401 } },
  })
  const info2 = (await withDht.app.inject({ method: 'GET', url: '/v1/info' })).json<
    Record<string, unknown>
  >()
  t.same(info2.dht, { host: '127.0.0.1', port: 7401 }, '{ host, port }')
})

t.test('an accepted announce answers the documented fields; peers as documented', async (t) => {
  const { app, identity, clock } = await appFixture(t, backend, { config: { peersPublic: true } })
  const nodes = Array.from({ length: 25 }, () => Identity.generate(libsignalKeys))
  for (const node of nodes) {
    const res = await postAnnounce(app, signedAnnounce(node, identity.id, { timestamp: T0 }))
    t.equal(res.statusCode, 200)
  }
  const last = await postAnnounce(
    app,
    signedAnnounce(nodes[0]!, identity.id, { seq: 2, timestamp: clock.now() }),
  )
  const body = last.json<Record<string, unknown>>()
  t.same(Object.keys(body).sort(), fields('**`POST /v1/announce`**'))
  t.equal((body.peers as unknown[]).length, 20, 'up to 20 other live peers')
  const peer = (body.peers as Record<string, unknown>[])[0]!
  const announceFields = Object.keys(signedAnnounce(nodes[0]!, identity.id, { timestamp: T0 }))
  t.same(Object.keys(peer).sort(), [...announceFields, 'observed', 'expiresAt'].sort())

  const get = (url: string) => app.inject({ method: 'GET', url })
  t.equal((await get('/v1/peers')).json<{ peers: unknown[] }>().peers.length, 20, 'default 20')
  t.equal((await get('/v1/peers?limit=100')).json<{ peers: unknown[] }>().peers.length, 25)
  t.equal((await get('/v1/peers?limit=0')).statusCode, 400, 'limit below 1')
  t.equal((await get('/v1/peers?limit=101')).statusCode, 400, 'limit above 100')
  const near = nodes[3]!
  const closest = (await get(`/v1/peers?near=${near.textId}&limit=5`)).json<{
    peers: { id: string }[]
  }>().peers
  const distance = (id: string) =>
    Buffer.from(parseTextId(id).map((b, i) => b ^ near.id[i]!)).toString('hex')
  t.equal(closest[0]?.id, near.textId, 'closest first: the ID itself')
  t.same(
    closest.map((p) => distance(p.id)),
    closest.map((p) => distance(p.id)).sort(),
    'by XOR distance',
  )
  t.equal((await get(`/v1/peers/${near.textId}`)).statusCode, 200)
  const unknown = Identity.generate(libsignalKeys).textId
  t.equal((await get(`/v1/peers/${unknown}`)).statusCode, 404, 'no live announce: 404')
})

t.test('the documented body limit and error codes are the server’s', async (t) => {
  const limit = Number(/body is at most \*\*(\d+) bytes\*\*/.exec(SECTION)?.[1])
  t.equal(limit, BODY_LIMIT_BYTES, 'the limit the server applies by default')
  const { app, identity } = await appFixture(t, backend)
  const announce = JSON.stringify(
    signedAnnounce(Identity.generate(libsignalKeys), identity.id, {
      timestamp: T0,
    }),
  )
  const padded = (size: number) => announce + ' '.repeat(size - Buffer.byteLength(announce))
  const over = await postAnnounce(app, padded(limit + 1))
  t.equal(over.statusCode, 413)
  t.equal(over.json<{ code: string }>().code, 'PASSAGE_ERR_TOO_LARGE')
  t.equal((await postAnnounce(app, padded(limit))).statusCode, 200, 'exactly the limit is taken')

  const rows = table(/^\| code +\| HTTP/)
  for (const [code = '', status = ''] of rows) {
    const name = code.replace(/`/g, '')
    const http = Number(status)
    if (http === 415) {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/announce',
        payload: announce,
        headers: { 'content-type': 'text/plain' },
      })
      t.same([res.statusCode, res.json<{ code: string }>().code], [415, name], '415 row')
    } else if (http === 500) {
      t.equal(statusOfCode(name), undefined, 'internal errors are not a client code')
    } else {
      t.equal(statusOfCode(name), http, `${name} is HTTP ${http}`)
    }
  }
  const refusal = over.json<Record<string, unknown>>()
  t.same(Object.keys(refusal).sort(), ['code', 'error', 'message', 'statusCode'])
})
