import { createClient } from '../core/client/create-client.js'
import type { ClientInternals } from '../core/client/context.js'
import type { ClientOptions, PassageClient } from '../core/client/types.js'
import { nodeMediaCrypto } from './media-crypto.js'
import { systemClock, type Clock } from '../core/runtime/clock.js'
import { libsignalKeys } from './libsignal/key-provider.js'
import { libsignalSessions } from './libsignal/session.js'
import { bindMulticastSocket } from './multicast-socket.js'
import { SqliteClientRepository } from './sqlite/client-repository.js'
import { openClientStore } from './sqlite/sqlite-client-store.js'
import { connectTcp, listenTcp } from './tcp-socket.js'
import { bindUdpSocket } from './udp-socket.js'

/** Options of {@link createNodeClient}: the client's, and where its home is. */
export interface NodeClientOptions extends ClientOptions {
  /** The home folder (`--home` / `PASSAGE_HOME`): SQLite database, keys, messages. */
  home: string
  /** Time source for timestamps, periodic work and expiry; `systemClock` by default. */
  clock?: Clock
}

/**
 * Opens the client of the home folder `options.home` (SQLite) with Node's sockets (UDP for
 * the DHT, TCP for direct links, multicast for the LAN) and libsignal, and starts it. Without
 * `createIdentity` a home that does not exist is refused (`NoIdentityError`) and nothing is
 * created. See `PassageClient`.
 *
 * @example
 * const client = await createNodeClient({ home: './bot', createIdentity: true,
 *   servers: ['http://127.0.0.1:8080'] })
 * client.on('message', (m) => console.log(m.contactId, m.text))
 */
export async function createNodeClient(
  options: NodeClientOptions,
  internals: ClientInternals = {},
): Promise<PassageClient> {
  const clock = options.clock ?? systemClock
  const store = await openClientStore(options.home, {
    clock,
    create:
      options.createIdentity === true || options.link === true || options.recover !== undefined,
  })
  const repository = new SqliteClientRepository(store)
  try {
    return await createClient(
      {
        repository,
        signal: libsignalSessions,
        keys: libsignalKeys,
        runtime: { clock },
        udp: bindUdpSocket,
        connect: connectTcp,
        listen: listenTcp,
        discovery: bindMulticastSocket,
        media: nodeMediaCrypto,
      },
      options,
      internals,
    )
  } catch (error) {
    await repository.close().catch(() => {})
    throw error
  }
}
