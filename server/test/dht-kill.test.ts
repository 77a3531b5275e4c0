// The real `passage-server` as a child process: envelopes acknowledged through the DHT
// survive `kill -9` and a restart, on Postgres and on PGlite (the embedded default).
import { once } from 'node:events'
import { DhtNode, Identity, toHex, utf8 } from '@passage/sdk'
import { libsignalKeys, bindUdpSocket } from '@passage/sdk/node'
import { freeUdpPort } from '@passage/sdk/testing'
import t from 'tap'
import { backends, type TeardownHost, type TestStorage } from './helpers/databases.js'
import { passageServer, startProgram } from './helpers/program.js'

// Two real server programs per storage, each opening its database: 160 s in a full run on a
// loaded machine, past tap's 120 s default; the file's own bound.
t.setTimeout(300_000)

/** Envelopes put before the crash. */
const ENVELOPES = 20

/** Starts passage-server on `storage` with its DHT on `dhtPort`; waits for the start line. */
async function startServerProgram(t: TeardownHost, storage: TestStorage, dhtPort: number) {
  const env: Record<string, string> = {
    PASSAGE_DATA_DIR: storage.options.dataDir,
    PASSAGE_LOG_LEVEL: 'info',
  }
  if (storage.options.databaseUrl) env.DATABASE_URL = storage.options.databaseUrl
  const program = await startProgram(
    t,
    ['--http-host', '127.0.0.1', '--http-port', '0', '--dht-port', String(dhtPort)],
    env,
  )
  return { ...program, url: program.start.url, dht: program.start.dht! }
}

/** A phone: a DHT node in client mode (never stored on), joined through the super-node. */
async function phone(t: TeardownHost): Promise<DhtNode> {
  const node = new DhtNode({
    identity: Identity.generate(libsignalKeys),
    socket: await bindUdpSocket('127.0.0.1', 0),
    client: true,
  })
  t.teardown(() => node.destroy())
  return node
}

t.test('--help documents the DHT options and their defaults', async (t) => {
  const child = passageServer(['--help'], {})
  let stdout = ''
  child.stdout!.on('data', (chunk) => (stdout += chunk))
  const [code] = (await once(child, 'exit')) as [number | null]
  t.equal(code, 0)
  t.match(stdout, /--dht-port <port>/)
  t.match(stdout, /env:\s+PASSAGE_DHT_PORT/)
  t.match(stdout, /--bootstrap <host:port>/)
  t.match(stdout, /env:\s+PASSAGE_BOOTSTRAP/)
  t.match(stdout, /port --dht-port \(default 7401;/)
  t.match(stdout, /\/readyz fails while --bootstrap nodes are configured and none is verified/)
})

for (const backend of backends) {
  t.test(`${backend.name}: acknowledged envelopes survive kill -9 and restart`, async (t) => {
    const storage = await backend.prepare(t)
    const dhtPort = await freeUdpPort()
    const first = await startServerProgram(t, storage, dhtPort)
    const superNode = { host: '127.0.0.1', port: dhtPort }
    t.same(first.dht, superNode, 'the start-up line names the DHT endpoint')
    const info = (await (await fetch(`${first.url}/v1/info`)).json()) as { dht: unknown }
    t.same(info.dht, { ...superNode, id: first.start.dhtId }, '/v1/info advertises it')

    const sender = await phone(t)
    t.equal(await sender.bootstrap([superNode]), 1, 'the phone verified the super-node')
    const bob = Identity.generate(libsignalKeys)
    const sent = Array.from({ length: ENVELOPES }, (_, i) => utf8(`sealed for bob #${i}`))
    const results = await Promise.all(sent.map((data) => sender.putEnvelope(bob.publicKey, data)))
    t.same(
      results.map((r) => r.stored),
      sent.map(() => 1),
      'each envelope acknowledged by the one replica, the super-node',
    )

    // Crash right after the last acknowledgement: no shutdown, no flush.
    first.child.kill('SIGKILL')
    const [, signal] = await first.exited
    t.equal(signal, 'SIGKILL')

    const second = await startServerProgram(t, storage, dhtPort)
    t.same(second.dht, superNode)
    const owner = await phone(t)
    t.equal(await owner.bootstrap([superNode]), 1)
    const fetched = await owner.fetchMailbox(bob)
    t.same(
      fetched.map((e) => toHex(e.data)).sort(),
      sent.map((d) => toHex(d)).sort(),
      `all ${ENVELOPES} envelopes fetched by the owner after the restart`,
    )
    const ready = await fetch(`${second.url}/readyz`)
    t.equal(ready.status, 200, 'ready: no bootstrap peers configured (the first node)')

    second.child.kill('SIGTERM')
    const [code] = await second.exited
    t.equal(code, 0, 'a clean shutdown with the DHT on')
  })
}
