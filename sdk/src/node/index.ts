// @passage/sdk/node: the Node.js adapters (sockets, SQLite home, libsignal) and the client with
// today's defaults.
export { type ClientDatabase, CLIENT_MIGRATIONS } from './sqlite/migrations.js'
export {
  CLIENT_DB_FILE,
  openClientStore,
  SqliteClientStore,
  type StoredIdentity,
} from './sqlite/sqlite-client-store.js'
export { SqliteClientRepository } from './sqlite/client-repository.js'
export { ATTACHMENTS_DIR } from './sqlite/attachment-files.js'
export { createNodeClient, type NodeClientOptions } from './create-node-client.js'
export {
  homeExists,
  initHome,
  readHome,
  readHomeCard,
  type HomeCard,
  type HomeInfo,
} from './home.js'
export { bindUdpSocket } from './udp-socket.js'
export { connectTcp, listenTcp } from './tcp-socket.js'
export { bindMulticastSocket } from './multicast-socket.js'
export {
  SqliteSignalStorage,
  SqliteSignalTransaction,
  sqliteTransactionOf,
} from './sqlite/signal-storage.js'
export { libsignalKeys, libsignalKeyPair } from './libsignal/key-provider.js'
export { nodeMediaCrypto } from './media-crypto.js'
export { LibsignalSession, libsignalSessions } from './libsignal/session.js'
export { generatePreKeys, createPreKeyBundle, toLibsignalBundle } from './libsignal/pre-keys.js'
export {
  SessionCache,
  SignalSessionStore,
  SignalIdentityStore,
  SignalPreKeyStore,
  SignalSignedPreKeyStore,
  SignalKyberPreKeyStore,
  SignalSenderKeyStore,
  SignalStores,
} from './libsignal/stores.js'
