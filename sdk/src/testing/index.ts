// @passage/sdk/testing: an in-process testnet, fault injection, a fake datagram socket and
// conformance suites for tests and benchmarks.
export { createTestnet, lossySocket, type Testnet, type TestnetOptions } from './testnet.js'
export { mailboxStoreConformance, type ConformanceTest } from './conformance/mailbox-store.js'
export { mulberry32 } from './testnet.js'
export { FakeDatagramSocket, type SentDatagram } from './fake-datagram-socket.js'
export { lanPeerSink } from '../core/client/create-client.js'
