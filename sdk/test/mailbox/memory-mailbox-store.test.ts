import t from 'tap'
import { MemoryMailboxStore } from '@passage/sdk'
import { mailboxStoreConformance } from './conformance.js'

mailboxStoreConformance(t, async () => new MemoryMailboxStore())
