// The super-node's DHT node answers mailbox-put-many (docs/PROTOCOL.md, "Mailboxes", "Several
// envelopes in one put"), storing each envelope in its database before the answer, on every
// storage backend.
import {
  envelopeIdOf,
  Identity,
  mailboxKeyFor,
  utf8,
  ManualClock,
  ManualTimers,
} from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import { createTestnet } from '@passage/sdk/testing'
import t from 'tap'
import { defaultConfig } from '../src/config.js'
import { startServer } from '../src/start-server.js'
import { backends } from './helpers/databases.js'

for (const backend of backends) {
  t.test(`${backend.name}: several envelopes in one put, each stored`, async (t) => {
    const net = await createTestnet(5)
    t.teardown(() => net.destroy())
    const storage = await backend.prepare(t)
    const server = await startServer({
      config: defaultConfig({
        httpHost: '127.0.0.1',
        httpPort: 0,
        dhtPort: 0,
        bootstrap: net.bootstrap,
        ...storage.options,
      }),
      dht: {
        timers: new ManualTimers(new ManualClock()),
        node: { requestTimeoutMs: 200, retries: 1 },
      },
    })
    t.teardown(() => server.close())
    const dht = server.dht!
    await dht.bootstrap()
    const phone = await net.add({ client: true })
    const bob = Identity.generate(libsignalKeys)
    const carol = Identity.generate(libsignalKeys)
    const envelopes = [
      { recipientKey: bob.publicKey, data: utf8('for bob, 1') },
      { recipientKey: carol.publicKey, data: utf8('for carol 🌙') },
      { recipientKey: bob.publicKey, data: utf8('for bob, 2') },
    ]
    const results = await phone.putEnvelopes(envelopes)
    t.same(
      results.map((r) => [r.stored, r.replicas]),
      Array(3).fill([6, 6]),
      'each on the 5 testnet nodes and the super-node',
    )
    for (const e of envelopes) {
      const key = mailboxKeyFor(e.recipientKey)
      t.ok(
        await dht.mailboxStore.has(key, envelopeIdOf(key, e.data), Date.now()),
        'in the super-node database',
      )
    }
    const text = await (await fetch(`${server.url}/metrics`)).text()
    t.match(
      text,
      /^passage_dht_rpcs_total\{type="mailbox-put-many",result="ok",direction="inbound"\} 1$/m,
    )
    t.match(text, /^passage_mailbox_operations_total\{op="put"\} 3$/m)
  })
}
