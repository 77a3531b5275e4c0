// The real `passage-server` program as a child process: --help, bad flags, start, SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { backends } from './helpers/databases.js'

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url))
/** Start-up of node + TypeScript loader + PGlite on a loaded 2-core machine. */
const START_TIMEOUT_MS = 60_000

/** Runs main.ts the way tap runs tests: same node, same loader and export conditions. */
function passageServer(args: string[], env: Record<string, string> = {}): ChildProcess {
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
    ['--trust-proxy', 'PASSAGE_TRUST_PROXY'],
    ['--dht-port', 'PASSAGE_DHT_PORT'],
    ['--bootstrap', 'PASSAGE_BOOTSTRAP'],
  ]) {
    t.match(stdout, flag, `${flag} listed`)
    t.match(stdout, new RegExp(`env:\\s+${env}\\b`), `${env} listed`)
  }
})

t.test('starts on PGlite, serves, and exits 0 on SIGTERM', async (t) => {
  const storage = await backends[1]!.prepare(t)
  const child = passageServer(
    ['--http-host', '127.0.0.1', '--http-port', '0', '--bootstrap', '127.0.0.1:7001'],
    { PASSAGE_DATA_DIR: storage.options.dataDir, PASSAGE_LOG_LEVEL: 'info' },
  )
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  let stderr = ''
  child.stderr!.on('data', (chunk) => (stderr += chunk))
  const lines: Record<string, unknown>[] = []
  let buffered = ''
  const started = new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no start-up line within ${START_TIMEOUT_MS} ms: ${stderr}`)),
      START_TIMEOUT_MS,
    )
    child.once('exit', (code) => reject(new Error(`exited with ${code}: ${stderr}`)))
    child.stdout!.on('data', (chunk) => {
      buffered += chunk
      const parts = buffered.split('\n')
      buffered = parts.pop()!
      for (const part of parts) {
        const entry = JSON.parse(part) as Record<string, unknown>
        lines.push(entry)
        if (typeof entry.url === 'string' && entry.storage) {
          clearTimeout(timer)
          resolve(entry)
        }
      }
    })
  })
  const start = await started
  t.equal(start.storage, 'pglite', 'the start-up line names the storage')
  t.match(start.id, /^p1[a-z0-9]{38}$/, "…and the server's text ID")
  t.match(start.url, /^http:\/\/127\.0\.0\.1:\d+$/, '…and the URL')

  const health = await fetch(`${start.url}/healthz`)
  t.equal(health.status, 200)
  const info = (await (await fetch(`${start.url}/v1/info`)).json()) as { id: string }
  t.equal(info.id, start.id)
  t.equal((await fetch(`${start.url}/readyz`)).status, 200)

  const exited = once(child, 'exit') as Promise<[number | null, string | null]>
  child.kill('SIGTERM')
  const [code, signal] = await exited
  t.equal(signal, null)
  t.equal(code, 0, `clean exit (${stderr})`)
  t.ok(
    lines.some((l) => l.msg === 'stopped'),
    'logged the shutdown',
  )
  await t.rejects(fetch(`${start.url}/healthz`), 'no longer listening')
})
