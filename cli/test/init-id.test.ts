// passage init and passage id, run in-process with a temporary home and captured output.
import { join } from 'node:path'
import { parseContactUri } from '@passage/sdk'
import { openClientStore } from '@passage/sdk/node'
import t from 'tap'
import { idCommand } from '../src/commands/id.js'
import { initCommand } from '../src/commands/init.js'
import { runCli } from '../src/run-cli.js'
import { captureIo } from './helpers/capture-io.js'

/** The start of every ANSI escape sequence. */
const ANSI = '\u001b['

t.test('init creates an identity and prints its ID, URI and QR code', async (t) => {
  const home = join(t.testdir(), 'home')
  const io = captureIo()
  t.equal(await runCli(['init', '--home', home, '--name', 'Alice'], io), 0, io.err())
  t.equal(io.err(), '')
  const out = io.out()
  const store = await openClientStore(home)
  const stored = await store.loadIdentity()
  await store.close()
  t.ok(stored, 'the identity is in the SQLite home')
  const textId = stored!.identity.textId
  t.match(out, `ID    ${textId}`)
  t.match(out, 'Name  Alice')
  const uri = /URI +(passage:\S+)/.exec(out)?.[1]
  t.ok(uri, 'a passage: URI is printed')
  const card = parseContactUri(uri!)
  t.equal(card.textId, textId)
  t.equal(card.name, 'Alice')
  t.match(out, /[█▀▄]{7}/, 'a QR code in block characters')
  t.notMatch(out, ANSI, 'NO_COLOR: no escape codes at all')
})

t.test('init refuses to replace an identity without --force', async (t) => {
  const home = t.testdir()
  const first = captureIo()
  t.equal(await initCommand({ home }, first), 0)
  const firstId = (await idJson(home)).id

  const again = captureIo()
  t.equal(await runCli(['init', '--home', home], again), 1, 'exit code 1')
  t.match(again.err(), /--force/, 'the message says to use --force')
  t.match(again.err(), firstId, 'and names the identity that is kept')
  t.notMatch(again.err(), /\n\s+at /, 'no stack trace')
  t.equal(again.out(), '')
  t.equal((await idJson(home)).id, firstId, 'the identity is unchanged')

  const forced = captureIo()
  t.equal(await runCli(['init', '--home', home, '--force'], forced), 0)
  const newId = (await idJson(home)).id
  t.not(newId, firstId, '--force replaces it')
  t.match(forced.out(), newId)
})

t.test('id shows the identity as text, JSON and QR code', async (t) => {
  const home = t.testdir()
  await initCommand({ home, name: 'Bob' }, captureIo())
  const json = await idJson(home)
  t.match(json, {
    id: /^p1[a-z0-9]{38}$/,
    publicKey: /^[A-Za-z0-9_-]{44}$/,
    name: 'Bob',
    home,
  })
  t.equal(parseContactUri(json.uri).textId, json.id)
  t.ok(Date.parse(json.createdAt) > Date.parse('2020-01-01'))

  const text = captureIo()
  t.equal(await idCommand({ home }, text), 0)
  t.match(text.out(), `ID       ${json.id}`)
  t.match(text.out(), `Home     ${home}`)
  t.notMatch(text.out(), /█/, 'no QR code unless asked')

  const qr = captureIo()
  t.equal(await runCli(['id', '--qr', '--home', home], qr), 0)
  t.match(qr.out(), /[█▀▄]{7}/)
})

t.test('id without an identity tells to run passage init', async (t) => {
  const home = join(t.testdir(), 'empty')
  const io = captureIo()
  t.equal(await runCli(['id', '--home', home], io), 1)
  t.match(io.err(), /no identity in .*empty/)
  t.match(io.err(), /passage init/)
  t.equal(io.out(), '')
  const json = captureIo()
  t.equal(await runCli(['id', '--json', '--home', home], json), 1)
  t.equal(json.out(), '', 'nothing on stdout for scripts to misread')
})

t.test('the home comes from --home, then PASSAGE_HOME, then ~/.passage', async (t) => {
  const dir = t.testdir({ env: {}, user: {} })
  const fromEnv = captureIo({ PASSAGE_HOME: join(dir, 'env') })
  t.equal(await runCli(['init', '--json'], fromEnv), 0, fromEnv.err())
  t.equal(JSON.parse(fromEnv.out()).home, join(dir, 'env'))

  const fromHome = captureIo({}, join(dir, 'user'))
  t.equal(await runCli(['init', '--json'], fromHome), 0, fromHome.err())
  t.equal(JSON.parse(fromHome.out()).home, join(dir, 'user', '.passage'))

  const tilde = captureIo({ PASSAGE_HOME: join(dir, 'env') }, join(dir, 'user'))
  t.equal(await runCli(['id', '--json', '--home', '~/.passage'], tilde), 0, tilde.err())
  t.equal(JSON.parse(tilde.out()).home, join(dir, 'user', '.passage'), '--home wins, ~ expands')
})

t.test('colour only when allowed: NO_COLOR wins over FORCE_COLOR', async (t) => {
  const home = t.testdir()
  const colored = captureIo({ NO_COLOR: undefined, FORCE_COLOR: '1' })
  t.equal(await runCli(['init', '--home', home], colored), 0)
  t.match(colored.out(), ANSI, 'FORCE_COLOR colours the output')
  const plain = captureIo({ NO_COLOR: '1', FORCE_COLOR: '1' })
  t.equal(await runCli(['id', '--qr', '--home', home], plain), 0)
  t.notMatch(plain.out(), ANSI)
  const refused = captureIo({ NO_COLOR: '1', FORCE_COLOR: '1' })
  t.equal(await runCli(['init', '--home', home], refused), 1)
  t.notMatch(refused.err(), ANSI, 'errors too')
})

t.test('usage errors exit 2; help and version exit 0', async (t) => {
  const unknown = captureIo()
  t.equal(await runCli(['frobnicate'], unknown), 2)
  t.match(unknown.err(), /unknown command 'frobnicate'/)
  const badName = captureIo()
  t.equal(await runCli(['init', '--home', t.testdir(), '--name', ' '], badName), 1)
  t.match(badName.err(), /--name must be 1 to 64 characters/)
  const help = captureIo()
  t.equal(await runCli(['--help'], help), 0)
  t.match(help.out(), /init.*\n.*id.*\n.*status/s)
  const version = captureIo()
  t.equal(await runCli(['--version'], version), 0)
  t.match(version.out(), /^\d+\.\d+\.\d+\n$/)
})

async function idJson(home: string) {
  const io = captureIo()
  const code = await idCommand({ home, json: true }, io)
  if (code !== 0) throw new Error(io.err())
  return JSON.parse(io.out()) as {
    id: string
    publicKey: string
    name: string | null
    createdAt: string
    uri: string
    home: string
  }
}
