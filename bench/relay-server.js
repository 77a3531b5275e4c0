// The relay of bench/relay.js in a process of its own, as a super-node's would be: prints
// {"port", "id"} once listening on 127.0.0.1, runs until killed.
import { Identity, toHex } from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import { RelayServer } from '@passage/server'

const relay = await RelayServer.start({
  identity: Identity.generate(libsignalKeys),
  host: '127.0.0.1',
  port: 0,
  limits: { maxBytes: 2 ** 40 },
})
console.log(JSON.stringify({ port: relay.address().port, id: toHex(relay.id) }))
