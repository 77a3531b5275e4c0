// The MailboxStore conformance suite lives in the SDK (so the server runs it on its Postgres
// store through @passage/sdk); this is its test-side name.
export { mailboxStoreConformance, type ConformanceTest } from '@passage/sdk'
