// @passage/sdk/testing: an in-process testnet, fault injection, a fake datagram socket and
// conformance suites for tests and benchmarks.
export { createTestnet, lossySocket, type Testnet, type TestnetOptions } from './testnet.js'
export { mailboxStoreConformance, type ConformanceTest } from './conformance/mailbox-store.js'
export { mulberry32 } from './testnet.js'
export { FakeDatagramSocket, type SentDatagram } from './fake-datagram-socket.js'
export { clientRepositoryConformance } from './conformance/client-repository.js'
export { attachmentRepositoryConformance } from './conformance/attachment-repository.js'
export {
  WAIT_MS,
  within,
  eventually,
  until,
  freeUdpPort,
  tmpHome,
  listenLinks,
  identities,
  type Teardown,
} from './harness.js'
export {
  testnet,
  startClient,
  collect,
  whenClient,
  introduce,
  dropLinks,
  offlinePair,
  linkDevice,
  type OfflinePair,
} from './clients.js'
