// Two `passage-server` processes on one Postgres database (scale-out behind a load balancer):
// one shared server identity for HTTP, but a DHT node of its own each (two nodes with one ID
// would take one place in every routing table), both serving the same mailboxes.
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DhtNode, Identity, parseTextId, toHex, utf8 } from '@passage/sdk'
import { bindUdpSocket, libsignalKeys } from '@passage/sdk/node'
import { freeUdpPort } from '@passage/sdk/testing'
import t from 'tap'

/** A UDP endpoint. */
interface Endpoint {
  host: string
  port: number
}
import { backends, type TeardownHost } from './helpers/databases.js'
import { passageServer, startProgram } from './helpers/program.js'

const postgres = backends.find((b) => b.name === 'postgres')!

async function dataFolder(t: TeardownHost): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'passage-two-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

async function startServer(t: TeardownHost, databaseUrl: string, dataDir: string) {
  const dhtPort = await freeUdpPort()
  const program = await startProgram(
    t,
    ['--http-host', '127.0.0.1', '--http-port', '0', '--dht-port', String(dhtPort)],
    { DATABASE_URL: databaseUrl, PASSAGE_DATA_DIR: dataDir, PASSAGE_LOG_LEVEL: 'info' },
  )
  return { ...program, dht: { host: '127.0.0.1', port: dhtPort } as Endpoint }
}

/** The ID the DHT node at `at` proves to a phone that joins through it alone. */
async function dhtIdAt(t: TeardownHost, at: Endpoint): Promise<string> {
  const phone = new DhtNode({
    identity: Identity.generate(libsignalKeys),
    socket: await bindUdpSocket('127.0.0.1', 0),
    client: true,
  })
  t.teardown(() => phone.destroy())
  await phone.bootstrap([at])
  const found = phone.table.all().find((c) => c.port === at.port)
  if (!found) throw new Error(`no verified DHT node at port ${at.port}`)
  return toHex(found.id)
}

t.test(
  'two servers on one Postgres: one HTTP identity, two DHT nodes, same mailboxes',
  async (t) => {
    const storage = await postgres.prepare(t)
    const url = storage.options.databaseUrl!
    const [dirA, dirB] = [await dataFolder(t), await dataFolder(t)]
    const a = await startServer(t, url, dirA)
    const b = await startServer(t, url, dirB)
    t.equal(a.start.id, b.start.id, 'one server identity (HTTP answers, announces) for both')
    const [idA, idB] = [await dhtIdAt(t, a.dht), await dhtIdAt(t, b.dht)]
    t.not(idA, idB, 'each process runs a DHT node with an ID of its own')
    t.ok(a.start.dhtId && b.start.dhtId && a.start.dhtId !== b.start.dhtId, 'start lines say so')
    for (const [server, id] of [
      [a, idA],
      [b, idB],
    ] as const) {
      const info = (await (await fetch(`${server.start.url}/v1/info`)).json()) as {
        dht: { id: string }
      }
      t.equal(toHex(parseTextId(info.dht.id)), id, '/v1/info names the DHT node its pong proves')
    }

    // An envelope stored through one is fetched through the other (one database).
    const sender = new DhtNode({
      identity: Identity.generate(libsignalKeys),
      socket: await bindUdpSocket('127.0.0.1', 0),
      client: true,
    })
    t.teardown(() => sender.destroy())
    t.equal(await sender.bootstrap([a.dht]), 1)
    const bob = Identity.generate(libsignalKeys)
    t.equal((await sender.putEnvelope(bob.publicKey, utf8('via a'))).stored, 1)
    const owner = new DhtNode({
      identity: Identity.generate(libsignalKeys),
      socket: await bindUdpSocket('127.0.0.1', 0),
      client: true,
    })
    t.teardown(() => owner.destroy())
    t.equal(await owner.bootstrap([b.dht]), 1)
    const fetched = await owner.fetchMailbox(bob)
    t.same(
      fetched.map((e) => toHex(e.data)),
      [toHex(utf8('via a'))],
      'fetched through b',
    )

    // A restart keeps each process's DHT ID (its key is in its data folder).
    a.child.kill('SIGTERM')
    t.equal((await a.exited)[0], 0)
    const again = await startServer(t, url, dirA)
    t.equal(await dhtIdAt(t, again.dht), idA, 'the same DHT ID after a restart')

    // A second process on the same data folder would run the same DHT node: refused, saying why.
    const twin = passageServer(
      ['--http-host', '127.0.0.1', '--http-port', '0', '--dht-port', String(await freeUdpPort())],
      { DATABASE_URL: url, PASSAGE_DATA_DIR: dirA, PASSAGE_LOG_LEVEL: 'info' },
    )
    let output = ''
    twin.stdout!.on('data', (chunk) => (output += chunk))
    twin.stderr!.on('data', (chunk) => (output += chunk))
    const [code] = (await once(twin, 'exit')) as [number | null]
    t.not(code, 0, 'the twin exits with an error')
    t.match(output, /the DHT key .*dht-node\.key is in use \(by process \d+\)/)
    t.match(output, /give each server process its own data folder \(PASSAGE_DATA_DIR\)/)
  },
)
