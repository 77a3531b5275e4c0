import { statSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { AlreadyExistsError, Identity, ManualClock } from '@passage/sdk'
import {
  libsignalKeys,
  CLIENT_DB_FILE,
  CLIENT_MIGRATIONS,
  openClientStore,
} from '@passage/sdk/node'

t.test('a fresh home has no identity; a saved one survives reopening', async (t) => {
  const home = join(t.testdir(), 'home', 'nested')
  const clock = new ManualClock(1_764_000_000_000)
  const store = await openClientStore(home, { clock })
  t.equal(await store.loadIdentity(), undefined)
  const me = Identity.generate(libsignalKeys)
  const saved = await store.saveIdentity(me, { name: 'Alice' })
  t.equal(saved.createdAt, 1_764_000_000_000)
  await store.close()

  const again = await openClientStore(home)
  t.teardown(() => again.close())
  const loaded = await again.loadIdentity()
  t.ok(loaded)
  t.equal(loaded?.identity.textId, me.textId)
  t.same(loaded?.identity.serialize(), me.serialize(), 'the secret key round-trips')
  t.equal(loaded?.name, 'Alice')
  t.equal(loaded?.createdAt, 1_764_000_000_000)
  const message = new TextEncoder().encode('still me')
  t.ok(loaded?.identity.sign(message).byteLength === 64)
})

t.test('an existing identity is never overwritten without force', async (t) => {
  const home = t.testdir()
  const store = await openClientStore(home)
  t.teardown(() => store.close())
  const first = Identity.generate(libsignalKeys)
  await store.saveIdentity(first)
  const second = Identity.generate(libsignalKeys)
  await t.rejects(store.saveIdentity(second), AlreadyExistsError)
  const error = await store.saveIdentity(second).catch((e: unknown) => e)
  t.match(String((error as Error).message), first.textId, 'the refusal names the identity kept')
  t.match(String((error as Error).message), /--force/)
  t.equal((await store.loadIdentity())?.identity.textId, first.textId, 'the first one is kept')

  await store.saveIdentity(second, { force: true, name: 'Bob' })
  const loaded = await store.loadIdentity()
  t.equal(loaded?.identity.textId, second.textId, 'force replaces it')
  t.equal(loaded?.name, 'Bob')
})

t.test('two stores on the same file racing to create an identity: exactly one wins', async (t) => {
  const home = t.testdir()
  const a = await openClientStore(home)
  const b = await openClientStore(home)
  t.teardown(async () => {
    await a.close()
    await b.close()
  })
  const results = await Promise.allSettled([
    a.saveIdentity(Identity.generate(libsignalKeys)),
    b.saveIdentity(Identity.generate(libsignalKeys)),
  ])
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 1)
  const rejected = results.find((r) => r.status === 'rejected')
  t.ok(rejected && rejected.reason instanceof AlreadyExistsError)
})

t.test('settings and remembered servers', async (t) => {
  const home = t.testdir()
  const store = await openClientStore(home)
  t.equal(await store.getSetting('theme'), undefined)
  await store.setSetting('theme', { dark: true })
  t.same(await store.getSetting('theme'), { dark: true })
  await store.setSetting('theme', 'light')
  t.equal(await store.getSetting('theme'), 'light')
  await store.deleteSetting('theme')
  t.equal(await store.getSetting('theme'), undefined)

  t.same(await store.rememberedServers(), [])
  await store.rememberServer('http://127.0.0.1:8080/')
  await store.rememberServer('https://node.example/')
  await store.rememberServer('http://127.0.0.1:8080/')
  t.same(await store.rememberedServers(), ['http://127.0.0.1:8080/', 'https://node.example/'])
  await store.close()
  const again = await openClientStore(home)
  t.teardown(() => again.close())
  t.same(await again.rememberedServers(), ['http://127.0.0.1:8080/', 'https://node.example/'])
  t.equal(await again.forgetServer('http://127.0.0.1:8080/'), true, 'forgotten')
  t.equal(await again.forgetServer('http://127.0.0.1:8080/'), false, 'no longer there')
  t.equal(await again.forgetServer('http://other/'), false, 'never there')
  t.same(await again.rememberedServers(), ['https://node.example/'])
})

t.test(
  'the database is a real SQLite file, owner-only, with the migrations recorded',
  async (t) => {
    const home = join(t.testdir(), 'new-home')
    const store = await openClientStore(home)
    await store.saveIdentity(Identity.generate(libsignalKeys))
    await store.close()
    const file = join(home, CLIENT_DB_FILE)
    t.equal(statSync(file).mode & 0o777, 0o600)
    t.equal(statSync(home).mode & 0o077, 0, 'a home folder it creates is owner-only')
    const raw = new Database(file, { readonly: true })
    t.teardown(() => raw.close())
    const tables = raw
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .all()
      .map((r) => (r as { name: string }).name)
    t.ok(tables.includes('identity') && tables.includes('settings'))
    const migrations = raw.prepare('SELECT name FROM kysely_migration').all()
    t.same(
      migrations,
      Object.keys(CLIENT_MIGRATIONS).map((name) => ({ name })),
    )
    t.same(migrations[0], { name: '0001_identity_settings' })
    // Reopening runs no migration twice and keeps the data.
    const again = await openClientStore(home)
    t.ok(await again.loadIdentity())
    await again.close()
  },
)

t.test('queries reuse their prepared statement', async (t) => {
  const store = await openClientStore(t.testdir())
  t.teardown(() => store.close())
  const sqlite = store.sqlite!
  const prepare = sqlite.prepare.bind(sqlite)
  const prepared: string[] = []
  sqlite.prepare = ((sql: string) => {
    prepared.push(sql)
    return prepare(sql)
  }) as typeof sqlite.prepare
  for (let i = 0; i < 3; i++) {
    await store.setSetting(`k${i}`, i)
    t.equal(await store.getSetting(`k${i}`), i)
  }
  t.equal(prepared.length, 2, 'one upsert and one select, each prepared once')
})
