// Start-up failures of the real `passage-server` program (a port in use, Postgres
// unreachable, the data folder unwritable): one sentence on stderr that says what to do,
// exit 1, no stack; and the log format for people (`--log-format pretty`).
import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { backends } from './helpers/databases.js'
import { passageServer } from './helpers/program.js'

async function run(args: string[], env?: Record<string, string>) {
  const child = passageServer(args, env)
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (chunk) => (stdout += chunk))
  child.stderr!.on('data', (chunk) => (stderr += chunk))
  const [code] = (await once(child, 'exit')) as [number | null]
  return { code, stdout, stderr }
}

/** A start-up failure: exit 1, stderr one `passage-server: …` sentence naming `fix`, no stack. */
async function refusesToStart(t: Test, args: string[], env: Record<string, string>, fix: RegExp) {
  const { code, stdout, stderr } = await run(['--http-host', '127.0.0.1', ...args], {
    PASSAGE_LOG_LEVEL: 'info',
    ...env,
  })
  t.equal(code, 1, 'exit code 1')
  t.match(stderr, /^passage-server: [A-Z][^\n]*\.\n$/, `one sentence on stderr: ${stderr}`)
  t.match(stderr, fix, 'it says what to do')
  t.notMatch(stderr + stdout, /\n\s+at \S+ \(|"stack"/, 'no stack, on stderr or in the log')
  return stderr
}

t.test('start-up failures: one sentence with the fix, exit 1, no stack', { jobs: 4 }, async (t) => {
  t.test('the HTTP port is in use', async (t) => {
    const storage = await backends[1]!.prepare(t)
    const holder = createServer()
    holder.listen(0, '127.0.0.1')
    await once(holder, 'listening')
    t.teardown(() => new Promise<void>((resolve) => holder.close(() => resolve())))
    const port = (holder.address() as { port: number }).port
    const said = await refusesToStart(
      t,
      ['--http-port', String(port), '--dht-port', '0'],
      { PASSAGE_DATA_DIR: storage.options.dataDir },
      /--http-port \(PASSAGE_HTTP_PORT\)/,
    )
    t.match(said, `HTTP port ${port} (TCP) on 127.0.0.1 is already in use`)
  })

  t.test('the DHT port is in use', async (t) => {
    const storage = await backends[1]!.prepare(t)
    const holder = createSocket('udp4')
    holder.bind(0, '127.0.0.1')
    await once(holder, 'listening')
    t.teardown(() => new Promise<void>((resolve) => holder.close(() => resolve())))
    const port = holder.address().port
    const said = await refusesToStart(
      t,
      ['--http-port', '0', '--dht-port', String(port)],
      { PASSAGE_DATA_DIR: storage.options.dataDir },
      /--dht-port \(PASSAGE_DHT_PORT\)/,
    )
    t.match(said, `DHT port ${port} (UDP) on 127.0.0.1 is already in use`)
  })

  t.test('DATABASE_URL points at no Postgres', async (t) => {
    const storage = await backends[1]!.prepare(t)
    const said = await refusesToStart(
      t,
      ['--http-port', '0', '--dht-port', '0'],
      {
        DATABASE_URL: 'postgres://passage:s3cret@127.0.0.1:1/x',
        PASSAGE_DATA_DIR: storage.options.dataDir,
      },
      /Start Postgres there or correct DATABASE_URL/,
    )
    t.match(said, 'Postgres at 127.0.0.1:1/x (DATABASE_URL): connection refused')
    t.notMatch(said, /s3cret/, 'the password is not printed')
  })

  t.test('the data folder cannot be written (a file is in its way)', async (t) => {
    const storage = await backends[1]!.prepare(t)
    // Tests run as root, which may write anywhere: a file where the folder should be.
    const file = join(storage.options.dataDir, 'not-a-folder')
    await writeFile(file, 'x')
    const said = await refusesToStart(
      t,
      ['--http-port', '0', '--dht-port', '0'],
      { PASSAGE_DATA_DIR: join(file, 'data') },
      /--data-dir \(PASSAGE_DATA_DIR\)/,
    )
    t.match(said, `Cannot write the data folder ${join(file, 'data')} (a file is in the way`)
  })
})

t.test('--log-format pretty: lines for people; a shutdown line on SIGINT', async (t) => {
  const storage = await backends[1]!.prepare(t)
  const child = passageServer(
    ['--http-host', '127.0.0.1', '--http-port', '0', '--dht-port', '0', '--log-format', 'pretty'],
    { PASSAGE_DATA_DIR: storage.options.dataDir, PASSAGE_LOG_LEVEL: 'info' },
  )
  const exited = once(child, 'exit') as Promise<[number | null]>
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let stdout = ''
  child.stdout!.on('data', (chunk) => (stdout += chunk))
  const deadline = Date.now() + 60_000
  while (!/listening on http/.test(stdout) && Date.now() < deadline && child.exitCode === null) {
    await Promise.race([once(child.stdout!, 'data'), exited])
  }
  t.match(
    stdout,
    /^\d\d:\d\d:\d\d\.\d{3} INFO {2}passage-server listening on http:\/\/127\.0\.0\.1:\d+ \(storage: pglite/m,
    'time, level, message',
  )
  t.notMatch(stdout, /^\{/m, 'no JSON line')
  child.kill('SIGINT')
  const [code] = await exited
  t.equal(code, 0)
  t.match(stdout, /INFO {2}shutting down: finishing in-flight requests signal=SIGINT\n/)
  t.match(stdout, /INFO {2}stopped signal=SIGINT ms=\d+\n$/, 'the last line says it stopped')
})
