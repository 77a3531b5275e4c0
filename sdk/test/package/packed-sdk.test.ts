// The SDK as a real package: `npm pack` of sdk/ installed into an empty folder outside the
// repository; a bot written there in plain JavaScript runs with plain `node` (no loader, no
// flags) against a local super-node and answers a client; and the portable core loads where
// the native addons (better-sqlite3, libsignal) are absent.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { defaultConfig, startServer } from '@passage/server'
import { collect, startClient, tmpHome, within } from '@passage/sdk/testing'
import t from 'tap'
import { installTarball, npm, plainEnv, REPO_ROOT } from '../helpers/install-tarball.js'

// npm pack, an npm install elsewhere and a bot start: 119 s in a full run on a loaded machine,
// at tap's 120 s default; the file's own bound.
t.setTimeout(300_000)

/** The bot's start: node, SQLite, libsignal, joining the DHT through the super-node. */
const BOT_START_MS = 30_000

/** A plain `node` in `cwd`: none of this process's loader flags or conditions. */
function plainNode(args: string[], cwd: string) {
  return spawnSync(process.execPath, args, { cwd, encoding: 'utf8', env: plainEnv() })
}

const BOT = `import { createNodeClient } from '@passage/sdk/node'

const client = await createNodeClient({
  home: process.env.BOT_HOME,
  createIdentity: true,
  name: 'bot',
  servers: [process.env.SERVER],
  lan: false,
  fetchIntervalMs: 500,
})
console.log(JSON.stringify({ uri: client.contactUri }))
const stop = new AbortController()
process.once('SIGTERM', () => stop.abort())
for await (const message of client.messages({ signal: stop.signal })) {
  await client.send(message.contactId, 'echo: ' + message.text)
}
await client.close()
`

t.test(
  'packed, installed elsewhere, a plain JavaScript bot runs; the core needs no addon',
  async (t) => {
    const dir = tmpHome(t, 'packed-sdk')
    const packed = npm(['pack', '-w', 'sdk', '--pack-destination', dir, '--silent'], REPO_ROOT)
    const tarball = join(dir, packed.stdout.trim().split('\n').pop()!)
    t.ok(existsSync(tarball), `npm pack made ${tarball}`)
    const app = installTarball(tarball, dir)
    writeFileSync(join(app, 'bot.mjs'), BOT)

    const superNode = await startServer({
      config: defaultConfig({
        httpHost: '127.0.0.1',
        httpPort: 0,
        dhtPort: 0,
        dataDir: tmpHome(t, 'packed-super-node'),
        logLevel: 'silent',
        rateLimitPerMinute: 0,
      }),
    })
    t.teardown(() => superNode.close())

    const bot = spawn(process.execPath, ['bot.mjs'], {
      cwd: app,
      env: plainEnv({ SERVER: superNode.url, BOT_HOME: join(app, 'home') }),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    bot.stderr.on('data', (chunk) => (stderr += chunk))
    const exited = new Promise<number | null>((resolve) => bot.once('exit', resolve))
    t.teardown(() => {
      if (bot.exitCode === null) bot.kill('SIGKILL')
    })
    const firstLine = new Promise<string>((resolve) =>
      createInterface({ input: bot.stdout }).once('line', resolve),
    )
    const { uri } = JSON.parse(
      await within(
        Promise.race([firstLine, exited.then(() => stderr)]),
        `the bot (${stderr})`,
        BOT_START_MS,
      ),
    ) as { uri: string }
    t.match(uri, /^passage:p1/, 'the bot prints its passage: URI')

    const alice = await startClient(t, undefined, tmpHome(t, 'packed-alice'), {
      servers: [superNode.url],
      background: true,
      fetchIntervalMs: 500,
    })
    const bob = await alice.contacts.add(uri, { name: 'Bot' })
    const answer = collect(alice, 1, 20_000)
    await alice.send(bob.id, 'hello from a test, 漢字 👋')
    const [echo] = await answer.done
    t.equal(echo?.text, 'echo: hello from a test, 漢字 👋', `the bot answered (${stderr})`)
    t.equal(echo?.contactId, bob.id)
    bot.kill('SIGTERM')
    t.equal(await within(exited, 'the bot to stop', 10_000), 0, 'SIGTERM stops it cleanly')
    t.equal(stderr, '', 'nothing on its stderr')

    // The core of the same install, with the native addons gone (and dgram-as-promised not a
    // dependency at all): it loads; the Node entry, which needs them, does not.
    const modules = join(app, 'node_modules')
    t.notOk(existsSync(join(modules, 'dgram-as-promised')), 'dgram-as-promised is not installed')
    renameSync(join(modules, 'better-sqlite3'), join(dir, 'better-sqlite3'))
    renameSync(join(modules, '@signalapp'), join(dir, '@signalapp'))
    const core = plainNode(
      ['-e', "import('@passage/sdk').then((m) => console.log(Object.keys(m).length))"],
      app,
    )
    t.equal(core.status, 0, `the core loads: ${core.stderr}`)
    t.ok(Number(core.stdout) > 100, `with its API (${core.stdout.trim()} exports)`)
    const node = plainNode(['-e', "import('@passage/sdk/node')"], app)
    t.not(node.status, 0, 'the Node entry does not load without its addons')
  },
)
