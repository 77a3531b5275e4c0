// startServer(): real storage, a real port on 127.0.0.1, graceful close with a request in flight.
import t from 'tap'
import { defaultConfig } from '../src/config.js'
import { startServer } from '../src/start-server.js'
import { backends } from './helpers/databases.js'

for (const backend of backends) {
  t.test(`${backend.name}: close() finishes in-flight requests, then closes storage`, async (t) => {
    const storage = await backend.prepare(t)
    const server = await startServer({
      // Peers listed, so that GET /v1/peers reaches the store (held below).
      config: defaultConfig({
        httpHost: '127.0.0.1',
        httpPort: 0,
        peersPublic: true,
        ...storage.options,
      }),
    })
    t.teardown(() => server.close())
    t.equal(server.storageKind, backend.name)
    t.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/)
    t.equal(server.url, `http://127.0.0.1:${server.port}`)

    // Hold one request inside the handler until the shutdown has begun.
    let entered!: () => void
    const inHandler = new Promise<void>((resolve) => (entered = resolve))
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    const sample = server.store.sample.bind(server.store)
    server.store.sample = async (limit, now) => {
      entered()
      await gate
      return sample(limit, now)
    }
    const inFlight = fetch(`${server.url}/v1/peers`, { headers: { connection: 'close' } })
    await inHandler
    let closed = false
    const closing = server.close().then(() => (closed = true))
    await new Promise((resolve) => setImmediate(resolve))
    t.equal(closed, false, 'close waits for the request in flight')
    release()
    const res = await inFlight
    t.equal(res.status, 200, 'the request in flight is answered')
    t.same(await res.json(), { peers: [] })
    await closing
    await t.rejects(server.database.ping(), 'storage closed after the last request')
    await t.rejects(fetch(`${server.url}/healthz`), 'no longer accepting')
  })
}
