// The real `passage-server` as a child process: envelopes acknowledged through the DHT
// survive `kill -9` and a restart, on Postgres and on PGlite (the embedded default).
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { DhtNode, Identity, toHex, utf8, type NodeAddress } from '@passage/sdk'
import { libsignalKeys, bindUdpSocket } from '@passage/sdk/node'
import t from 'tap'
import { backends, type TeardownHost, type TestStorage } from './helpers/databases.js'

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url))
/** Start-up of node + TypeScript loader + PGlite on a loaded 2-core machine. */
const START_TIMEOUT_MS = 60_000
/** Envelopes put before the crash. */
const ENVELOPES = 20

/** Runs main.ts the way tap runs tests: same node, same loader and export conditions. */
function passageServer(args: string[], env: Record<string, string>): ChildProcess {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(
      ([key]) => !key.startsWith('PASSAGE_') && key !== 'DATABASE_URL',
    ),
  )
  return spawn(process.execPath, [...process.execArgv, MAIN, ...args], {
    env: { ...clean, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}

interface Program {
  child: ChildProcess
  url: string
  dht: NodeAddress
  exited: Promise<[number | null, string | null]>
}

/** Starts passage-server on `storage` with its DHT on `dhtPort`; waits for the start line. */
async function startProgram(
  t: TeardownHost,
  storage: TestStorage,
  dhtPort: number,
): Promise<Program> {
  const env: Record<string, string> = {
    PASSAGE_DATA_DIR: storage.options.dataDir,
    PASSAGE_LOG_LEVEL: 'info',
  }
  if (storage.options.databaseUrl) env.DATABASE_URL = storage.options.databaseUrl
  const child = passageServer(
    ['--http-host', '127.0.0.1', '--http-port', '0', '--dht-port', String(dhtPort)],
    env,
  )
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  })
  let stderr = ''
  child.stderr!.on('data', (chunk) => (stderr += chunk))
  let buffered = ''
  let timer: NodeJS.Timeout | undefined
  const start = await Promise.race([
    new Promise<{ url: string; dht: NodeAddress }>((resolve) => {
      child.stdout!.on('data', (chunk) => {
        buffered += chunk
        const parts = buffered.split('\n')
        buffered = parts.pop()!
        for (const part of parts) {
          const entry = JSON.parse(part) as { url?: string; dht?: NodeAddress }
          if (typeof entry.url === 'string' && entry.dht)
            resolve({ url: entry.url, dht: entry.dht })
        }
      })
    }),
    exited.then(([code]) => {
      throw new Error(`exited with ${code}: ${stderr}`)
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no start-up line within ${START_TIMEOUT_MS} ms: ${stderr}`)),
        START_TIMEOUT_MS,
      )
    }),
  ]).finally(() => clearTimeout(timer))
  return { child, ...start, exited }
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

async function freeUdpPort(): Promise<number> {
  const probe = await bindUdpSocket('127.0.0.1', 0)
  const { port } = probe.address()
  await probe.close()
  return port
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
    const first = await startProgram(t, storage, dhtPort)
    const superNode = { host: '127.0.0.1', port: dhtPort }
    t.same(first.dht, superNode, 'the start-up line names the DHT endpoint')
    const info = (await (await fetch(`${first.url}/v1/info`)).json()) as { dht: unknown }
    t.same(info.dht, superNode, '/v1/info advertises it')

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

    const second = await startProgram(t, storage, dhtPort)
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
