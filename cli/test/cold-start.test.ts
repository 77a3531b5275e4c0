// Commands that draw no screen load neither Ink/React (the chat screen) nor Kysely and the
// client (`passage id`): the real program as a child process, with a module hook that logs
// every module it resolves. The time it saves is measured by `npm run bench cli`.
import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import Database from 'better-sqlite3'
import { CLIENT_DB_FILE, createNodeClient } from '@passage/sdk/node'
import t from 'tap'
import { runCli } from '../src/run-cli.js'
import { captureIo } from './helpers/capture-io.js'

/** Bound on one run of the program: the TypeScript loader compiles on first use. */
const RUN_TIMEOUT_MS = 60_000

const root = fileURLToPath(new URL('../../', import.meta.url))
const main = join(root, 'cli', 'src', 'main.ts')
const loader = import.meta.resolve('@tapjs/typescript/import')

/** An `--import` module that logs each resolved module URL to stderr as `LOADED <url>`. */
const HOOK = `
import { register } from 'node:module'
register('data:text/javascript,' + encodeURIComponent(\`
import { writeSync } from 'node:fs'
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context)
  writeSync(2, 'LOADED ' + result.url + '\\\\n')
  return result
}\`))
`

/** The modules `passage args…` loaded, as URLs. */
function loadedBy(args: string[], hook: string) {
  return new Promise<{ code: number; loaded: string[]; stderr: string }>((resolve, reject) => {
    execFile(
      process.execPath,
      ['--conditions=@passage/source', '--import', loader, '--import', hook, main, ...args],
      {
        cwd: root,
        timeout: RUN_TIMEOUT_MS,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '',
          TS_NODE_PROJECT: join(root, 'tsconfig.test.json'),
          TS_NODE_TRANSPILE_ONLY: '1',
          NO_COLOR: '1',
          PASSAGE_LAN: 'off',
        },
      },
      (error, _stdout, stderr) => {
        if (error && typeof error.code !== 'number') return reject(error)
        const loaded = stderr
          .split('\n')
          .filter((line) => line.startsWith('LOADED '))
          .map((line) => line.slice('LOADED '.length))
        resolve({ code: error ? Number(error.code) : 0, loaded, stderr })
      },
    )
  })
}

const heavy = (loaded: string[], name: string) =>
  loaded.filter((url) => url.includes(`/node_modules/${name}/`))

t.test('passage id loads no screen, no Kysely, no client', async (t) => {
  const dir = t.testdir()
  const hook = join(dir, 'log-modules.mjs')
  writeFileSync(hook, HOOK)
  const home = join(dir, 'home')
  const io = captureIo()
  t.equal(await runCli(['init', '--home', home, '--json'], io), 0, io.err())

  const id = await loadedBy(['id', '--home', home], pathToFileURL(hook).href)
  t.equal(id.code, 0, id.stderr)
  t.ok(id.loaded.length > 0, 'the hook saw the modules')
  for (const name of ['ink', 'react', 'kysely', 'qrcode', '@signalapp/libsignal-client']) {
    t.same(heavy(id.loaded, name), [], `id does not load ${name}`)
  }
  t.notOk(
    id.loaded.some((url) => /\/cli\/src\/commands\/(?!id\.ts)/.test(url)),
    'nor any other command',
  )
  t.notOk(
    id.loaded.some((url) => url.endsWith('/create-node-client.ts')),
    'nor the client',
  )

  // The same hook does see them where they are needed: the chat command loads the screen
  // (then refuses: no terminal).
  const chat = await loadedBy(['chat', '--home', home], pathToFileURL(hook).href)
  t.equal(chat.code, 1)
  t.not(heavy(chat.loaded, 'ink').length, 0, 'chat loads Ink')
})

t.test(
  'a home from before the public key was kept: id derives it; a client keeps it',
  async (t) => {
    const dir = t.testdir()
    const hook = join(dir, 'log-modules.mjs')
    writeFileSync(hook, HOOK)
    const home = join(dir, 'home')
    const init = captureIo()
    t.equal(await runCli(['init', '--home', home, '--json', '--name', '王小明 🦊'], init), 0)
    const before = captureIo()
    t.equal(await runCli(['id', '--home', home, '--json'], before), 0, before.err())
    const file = join(home, CLIENT_DB_FILE)
    const db = new Database(file)
    db.prepare('update identity set public_key = null').run()
    db.close()

    const old = captureIo()
    t.equal(await runCli(['id', '--home', home, '--json'], old), 0, old.err())
    t.same(JSON.parse(old.out()), JSON.parse(before.out()), 'the same identity, its key derived')
    const derived = await loadedBy(['id', '--home', home], pathToFileURL(hook).href)
    t.not(heavy(derived.loaded, '@signalapp/libsignal-client').length, 0, 'with libsignal')

    const client = await createNodeClient({ home, network: false })
    await client.close()
    const kept = new Database(file, { readonly: true })
    const row = kept.prepare('select public_key from identity').get() as { public_key: Buffer }
    kept.close()
    t.equal(
      Buffer.from(row.public_key).toString('base64url'),
      (JSON.parse(before.out()) as { deviceKey: string }).deviceKey,
      'kept once a client opened the home',
    )
    const fast = await loadedBy(['id', '--home', home], pathToFileURL(hook).href)
    t.equal(fast.code, 0, fast.stderr)
    t.same(heavy(fast.loaded, '@signalapp/libsignal-client'), [], 'then id needs no libsignal')
  },
)
