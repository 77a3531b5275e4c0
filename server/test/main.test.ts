// The real `passage-server` program as a child process: --help, bad flags, start, SIGTERM.
import { once } from 'node:events'
import { connect } from 'node:net'
import t from 'tap'
import { backends, type TeardownHost } from './helpers/databases.js'
import { passageServer, startProgram, type Program } from './helpers/program.js'

async function run(args: string[], env?: Record<string, string>) {
  const child = passageServer(args, env)
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (chunk) => (stdout += chunk))
  child.stderr!.on('data', (chunk) => (stderr += chunk))
  const [code] = (await once(child, 'exit')) as [number | null]
  return { code, stdout, stderr }
}

t.test('--help lists every option with its environment variable', async (t) => {
  const { code, stdout } = await run(['--help'])
  t.equal(code, 0)
  for (const [flag, env] of [
    ['--http-host', 'PASSAGE_HTTP_HOST'],
    ['--http-port', 'PASSAGE_HTTP_PORT'],
    ['--database-url', 'DATABASE_URL'],
    ['--data-dir', 'PASSAGE_DATA_DIR'],
    ['--announce-ttl', 'PASSAGE_ANNOUNCE_TTL'],
    ['--rate-limit', 'PASSAGE_RATE_LIMIT'],
    ['--log-level', 'PASSAGE_LOG_LEVEL'],
    ['--log-format', 'PASSAGE_LOG_FORMAT'],
    ['--trust-proxy', 'PASSAGE_TRUST_PROXY'],
    ['--dht-port', 'PASSAGE_DHT_PORT'],
    ['--dht-advertise', 'PASSAGE_DHT_ADVERTISE'],
    ['--bootstrap', 'PASSAGE_BOOTSTRAP'],
    ['--peers-public', 'PASSAGE_PEERS_PUBLIC'],
    ['--mailbox-max-messages', 'PASSAGE_MAILBOX_MAX_MESSAGES'],
    ['--mailbox-max-bytes', 'PASSAGE_MAILBOX_MAX_BYTES'],
    ['--mailbox-max-source-bytes', 'PASSAGE_MAILBOX_MAX_SOURCE_BYTES'],
    ['--relay', 'PASSAGE_RELAY'],
    ['--relay-port', 'PASSAGE_RELAY_PORT'],
    ['--relay-max-links', 'PASSAGE_RELAY_MAX_LINKS'],
    ['--relay-max-bytes', 'PASSAGE_RELAY_MAX_BYTES'],
    ['--relay-max-duration', 'PASSAGE_RELAY_MAX_DURATION'],
  ]) {
    t.match(stdout, flag, `${flag} listed`)
    t.match(stdout, new RegExp(`env:\\s+${env}\\b`), `${env} listed`)
  }
})

/** Starts passage-server on PGlite in a fresh data folder, on a free port of 127.0.0.1. */
async function startPglite(t: TeardownHost): Promise<Program> {
  const storage = await backends[1]!.prepare(t)
  return startProgram(
    t,
    [
      '--http-host',
      '127.0.0.1',
      '--http-port',
      '0',
      '--dht-port',
      '0',
      '--bootstrap',
      '127.0.0.1:7001',
    ],
    { PASSAGE_DATA_DIR: storage.options.dataDir, PASSAGE_LOG_LEVEL: 'info' },
  )
}

/**
 * A request held open in the middle of its body: `Expect: 100-continue` makes the server
 * say when it has the headers, so the request is surely in flight before a signal is sent.
 */
async function heldRequest(url: string) {
  const { hostname, port } = new URL(url)
  const socket = connect(Number(port), hostname)
  await once(socket, 'connect')
  const body = '{"id": 1}'
  socket.write(
    'POST /v1/announce HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
      `Content-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
  )
  let received = ''
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => (received += chunk))
  while (!received.includes('100 Continue')) await once(socket, 'data')
  return {
    socket,
    /** Sends the rest of the body; resolves with everything the server answered. */
    async finish(): Promise<string> {
      socket.end(body)
      await once(socket, 'close')
      return received
    },
  }
}

t.test(
  'starts on PGlite, serves, finishes the request in flight on SIGTERM, exits 0',
  async (t) => {
    const program = await startPglite(t)
    const { start } = program
    t.equal(start.storage, 'pglite', 'the start-up line names the storage')
    t.match(start.id, /^p1[a-z0-9]{38}$/, "…and the server's text ID")
    t.match(start.url, /^http:\/\/127\.0\.0\.1:\d+$/, '…and the URL')

    const health = await fetch(`${start.url}/healthz`)
    t.equal(health.status, 200)
    const info = (await (await fetch(`${start.url}/v1/info`)).json()) as { id: string }
    t.equal(info.id, start.id)
    const ready = await fetch(`${start.url}/readyz`)
    t.equal(ready.status, 503, 'not ready: the --bootstrap node 127.0.0.1:7001 is down')
    t.match(
      ((await ready.json()) as { checks: { dht: string } }).checks.dht,
      /^no verified DHT node yet; bootstrapping from 1 configured peer/,
    )

    const held = await heldRequest(start.url)
    program.child.kill('SIGTERM')
    await program.logged('shutting down: finishing in-flight requests')
    await t.rejects(fetch(`${start.url}/healthz`), 'no new connections once shutting down')
    t.equal(program.child.exitCode, null, 'still running while a request is in flight')
    const answer = await held.finish()
    t.match(
      answer,
      /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 400 /,
      'the request in flight is answered',
    )
    t.match(answer, /PASSAGE_ERR_MALFORMED/)

    const [code, signal] = await program.exited
    t.equal(signal, null)
    t.equal(code, 0, `clean exit (${program.stderr()})`)
    t.ok(
      program.lines.some((l) => l.msg === 'stopped'),
      'logged the shutdown',
    )
  },
)

t.test('a second signal during shutdown exits at once', async (t) => {
  const program = await startPglite(t)
  const held = await heldRequest(program.start.url)
  program.child.kill('SIGTERM')
  await program.logged('shutting down: finishing in-flight requests')
  program.child.kill('SIGINT')
  const [code] = await program.exited
  t.equal(code, 1, 'exit code 1: did not finish')
  t.ok(program.lines.some((l) => l.msg === 'second signal: exiting now'))
  held.socket.destroy()
})

t.test('JSON stays the default log format', async (t) => {
  const program = await startPglite(t)
  t.equal(program.lines[0]?.service, 'passage-server', 'JSON lines (the helper parses them)')
  program.child.kill('SIGINT')
  const [code] = await program.exited
  t.equal(code, 0)
  t.match(program.lines.at(-1), { msg: 'stopped', signal: 'SIGINT' }, 'the shutdown line')
})
