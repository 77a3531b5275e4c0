// `readHomeContacts` (`@passage/sdk/home`, what `passage contacts list` uses): the same list as
// `client.contacts.list()` with no network, read without the client; an older home is opened
// the full way (migrated) and still listed.
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { Identity } from '@passage/sdk'
import {
  CLIENT_DB_FILE,
  CLIENT_MIGRATIONS,
  createNodeClient,
  libsignalKeys,
} from '@passage/sdk/node'
import { readHomeContacts } from '@passage/sdk/home'
import { startClient, testnet, tmpHome } from '@passage/sdk/testing'
import { LATEST_CLIENT_MIGRATION } from '../../src/node/sqlite/schema-version.js'

function uriOf(identity: Identity, name?: string): string {
  const key = Buffer.from(identity.publicKey).toString('base64url')
  return `passage:${identity.textId}?key=${key}${name ? `&name=${encodeURIComponent(name)}` : ''}`
}

/** The list a client opened with no network gives of `home` (closed afterwards). */
async function clientList(home: string) {
  const client = await createNodeClient({ home, network: false })
  try {
    return await client.contacts.list()
  } finally {
    await client.close()
  }
}

t.test('the shortcut knows the newest migration', async (t) => {
  t.equal(LATEST_CLIENT_MIGRATION, Object.keys(CLIENT_MIGRATIONS).at(-1))
})

t.test(
  'contacts with names (CJK, emoji), unread counts; no requests, no blocked: as the client lists them',
  async (t) => {
    const net = await testnet(t)
    const home = tmpHome(t, 'bob')
    const bob = await startClient(t, net, home, { listen: false })
    const carol = Identity.generate(libsignalKeys)
    await bob.contacts.add(uriOf(carol, '張 🐱'))
    await bob.contacts.add(uriOf(Identity.generate(libsignalKeys))) // no name: listed last
    const alice = await startClient(t, net, tmpHome(t, 'alice'), { listen: false, name: 'Alice' })
    await alice.contacts.add(bob.contactUri)
    await bob.contacts.add(alice.contactUri, { name: 'Alice' })
    const mallory = await startClient(t, net, tmpHome(t, 'mallory'), { listen: false })
    await mallory.contacts.add(bob.contactUri)
    const eve = Identity.generate(libsignalKeys)
    await bob.contacts.add(uriOf(eve, 'Eve'))
    await bob.contacts.block(eve.textId)
    for (const text of ['one', 'two 你好', 'three 👋']) await alice.send(bob.textId, text)
    await mallory.send(bob.textId, 'a request')
    await bob.fetchInbox()
    await bob.close()

    const read = await readHomeContacts(home)
    t.same(
      read.map((c) => [c.name, c.unread]),
      [
        ['Alice', 3],
        ['張 🐱', 0],
        [undefined, 0],
      ],
      'by name, unnamed last; unread counted; the request and the blocked one are not listed',
    )
    t.notOk(read.some((c) => c.id === mallory.textId || c.id === eve.textId))
    t.ok(
      read.every((c) => c.route === 'mailbox' && !c.online),
      'no network: no route but the mailbox',
    )
    t.ok(read[0]!.lastSeenAt, 'when Alice was last heard from')
    t.same(read, await clientList(home), 'field for field what the client lists')
  },
)

t.test('a home of an older schema is opened the full way: migrated, then listed', async (t) => {
  const home = tmpHome(t, 'old')
  const client = await startClient(t, undefined, home, { listen: false, network: false })
  await client.contacts.add(uriOf(Identity.generate(libsignalKeys), 'Dana'))
  await client.close()
  // As before migration 0011: groups and their senders had no group mailbox columns.
  const db = new Database(join(home, CLIENT_DB_FILE))
  for (const [table, column] of [
    ['groups', 'seed'],
    ['groups', 'seeded'],
    ['group_senders', 'seed'],
    ['group_senders', 'read_at'],
    ['group_senders', 'since'],
  ])
    db.prepare(`alter table ${table} drop column ${column}`).run()
  db.prepare('delete from kysely_migration where name = ?').run(LATEST_CLIENT_MIGRATION)
  db.close()

  const read = await readHomeContacts(home)
  t.same(
    read.map((c) => c.name),
    ['Dana'],
  )
  const after = new Database(join(home, CLIENT_DB_FILE), { readonly: true })
  t.teardown(() => after.close())
  t.same(
    after.prepare('select max(name) as name from kysely_migration').get(),
    { name: LATEST_CLIENT_MIGRATION },
    'the full way ran the missing migration',
  )
})

t.test('no home: NoIdentityError, nothing created', async (t) => {
  const home = join(t.testdir(), 'none')
  await t.rejects(readHomeContacts(home), { name: 'NoIdentityError', message: /passage init/ })
})
