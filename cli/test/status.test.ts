// passage status against a real super-node (the server package's startServer on real
// Postgres, listening on 127.0.0.1:0) and against nothing at all.
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { BootstrapClient, Identity } from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import { defaultConfig, startServer, type RunningServer } from '@passage/server'
import pg from 'pg'
import t from 'tap'
import { statusCommand } from '../src/commands/status.js'
import { runCli } from '../src/run-cli.js'
import { captureIo } from './helpers/capture-io.js'

/** The real Postgres the tests use; each test gets its own schema. */
const TEST_DATABASE_URL =
  process.env.PASSAGE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

type HasTeardown = Pick<typeof t, 'teardown' | 'testdir'>

/** A real super-node on 127.0.0.1:0 over a fresh Postgres schema, stopped at teardown. */
async function realServer(t: HasTeardown): Promise<RunningServer> {
  const dataDir = t.testdir()
  const schema = `cli_${randomBytes(6).toString('hex')}`
  // The schema must exist before the server migrates into it. A plain client, not the
  // server's openDatabase(): that would migrate the shared database's default schema too.
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL })
  await admin.connect()
  const started: { server?: RunningServer } = {}
  t.teardown(async () => {
    await started.server?.close()
    await admin.query(`drop schema if exists ${schema} cascade`)
    await admin.end()
  })
  await admin.query(`create schema ${schema}`)
  const url = new URL(TEST_DATABASE_URL)
  url.searchParams.set('options', `-c search_path=${schema}`)
  const server = (started.server = await startServer({
    config: defaultConfig({
      httpHost: '127.0.0.1',
      httpPort: 0,
      databaseUrl: url.toString(),
      dataDir,
    }),
  }))
  return server
}

async function closedPort(): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address() as AddressInfo
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  return port
}

t.test('an unreachable server: a clear message and exit code 3', async (t) => {
  const port = await closedPort()
  const io = captureIo()
  t.equal(await runCli(['status', '--server', `127.0.0.1:${port}`], io), 3)
  t.match(io.err(), `could not reach the super-node at http://127.0.0.1:${port}/`)
  t.match(io.err(), /connection refused/)
  t.match(io.err(), /check the URL/)
  t.notMatch(io.err(), /\n\s+at /, 'no stack trace')

  const json = captureIo()
  t.equal(await runCli(['status', '--json', '--server', `http://127.0.0.1:${port}`], json), 3)
  t.match(JSON.parse(json.out()), {
    reachable: false,
    error: { code: 'PASSAGE_ERR_REMOTE', message: /connection refused/ },
  })

  const none = captureIo()
  t.equal(await runCli(['status'], none), 1)
  t.match(none.err(), /pass --server URL/)
})

t.test('a server that does not answer in time: exit code 3', async (t) => {
  const silent = createServer(() => undefined)
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    silent.closeAllConnections()
    return new Promise<void>((resolve) => silent.close(() => resolve()))
  })
  const { port } = silent.address() as AddressInfo
  const io = captureIo()
  const code = await statusCommand(
    { server: `http://127.0.0.1:${port}`, timeout: '200' },
    io,
  ).catch((error: unknown) => error)
  t.ok(code instanceof Error && code.name === 'TimeoutError')
  const cli = captureIo()
  t.equal(await runCli(['status', '--server', `127.0.0.1:${port}`, '--timeout', '200'], cli), 3)
  t.match(cli.err(), /did not answer GET \/healthz within 0.2 s/)
})

t.test('a real super-node: identity, health, readiness and live peers', async (t) => {
  const server = await realServer(t)
  for (let i = 0; i < 3; i++) {
    const client = new BootstrapClient({
      url: server.url,
      identity: Identity.generate(libsignalKeys),
    })
    await client.announce({ addresses: [{ transport: 'tcp', host: '', port: 7400 + i }] })
  }

  const io = captureIo()
  t.equal(await runCli(['status', '--server', server.url], io), 0, io.err())
  const out = io.out()
  t.match(out, `Super-node    ${server.url}/`)
  t.match(out, `ID            ${server.identity.textId}`)
  t.match(out, /Version +\d+\.\d+\.\d+/)
  t.match(out, /Health +ok \(\d+ ms\)/)
  t.match(out, /Ready +ready \(storage: ok\)/)
  t.match(out, /Live peers +3\n/)
  t.equal(io.err(), '')

  const json = captureIo()
  t.equal(await runCli(['status', '--json', '--server', server.url], json), 0)
  t.match(JSON.parse(json.out()), {
    reachable: true,
    health: 'ok',
    ready: { ready: true, checks: { storage: 'ok' } },
    info: { id: server.identity.textId, announceTtlMs: Number },
    livePeers: 3,
    livePeersSource: 'metrics',
    livePeersCapped: false,
    rejectedPeers: 0,
    errors: [],
  })

  // Storage gone under a running server: it still answers, but is not ready.
  await server.database.close()
  const unready = captureIo()
  t.equal(await runCli(['status', '--server', server.url], unready), 1)
  t.match(unready.out(), /Ready +unready \(storage: /)
  t.match(unready.err(), /not ready/)
})
