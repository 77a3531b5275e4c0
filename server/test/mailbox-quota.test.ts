// The mailbox quota flags (--mailbox-max-messages, --mailbox-max-bytes,
// --mailbox-max-source-bytes) reach the super-node's DHT node: a mailbox that is full on the
// super-node refuses the next envelope there while the testnet's nodes still take it.
import { envelopeIdOf, Identity, mailboxKeyFor, utf8 } from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import { createTestnet } from '@passage/sdk/testing'
import t from 'tap'
import { defaultConfig, parseConfig, buildCommand } from '../src/config.js'
import { startServer } from '../src/start-server.js'
import { backends } from './helpers/databases.js'

t.test('the quota flags parse into the configuration', async (t) => {
  const command = buildCommand().exitOverride()
  const config = parseConfig(
    [
      'node',
      'passage-server',
      '--mailbox-max-messages',
      '50',
      '--mailbox-max-bytes',
      '65536',
      '--mailbox-max-source-bytes',
      '1048576',
    ],
    command,
  )
  t.same(config.mailboxQuota, { maxCount: 50, maxBytes: 65_536, maxSourceBytes: 1_048_576 })
})

t.test('--mailbox-max-messages 1: the super-node keeps one envelope per mailbox', async (t) => {
  const net = await createTestnet(4)
  t.teardown(() => net.destroy())
  const storage = await backends[1]!.prepare(t)
  const config = defaultConfig({
    httpHost: '127.0.0.1',
    httpPort: 0,
    dhtPort: 0,
    bootstrap: net.bootstrap,
    ...storage.options,
  })
  const server = await startServer({
    config: { ...config, mailboxQuota: { ...config.mailboxQuota, maxCount: 1 } },
  })
  t.teardown(() => server.close())
  const dht = server.dht!
  t.ok((await dht.bootstrap()) >= 4, 'joined the testnet')

  const bob = Identity.generate(libsignalKeys)
  const phone = await net.add({ client: true })
  const mailboxKey = mailboxKeyFor(bob.publicKey)
  const first = utf8('first for bob')
  const second = utf8('second for bob')
  await phone.putEnvelope(bob.publicKey, first)
  await phone.putEnvelope(bob.publicKey, second)
  const now = Date.now()
  t.ok(await dht.mailboxStore.has(mailboxKey, envelopeIdOf(mailboxKey, first), now), 'the first')
  t.notOk(
    await dht.mailboxStore.has(mailboxKey, envelopeIdOf(mailboxKey, second), now),
    'not the second: the mailbox is full on this node',
  )
  t.equal((await phone.fetchMailbox(bob)).length, 2, 'the other replicas took both')
})
