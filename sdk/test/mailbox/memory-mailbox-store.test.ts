import t from 'tap'
import { MemoryMailboxStore } from '@passage/sdk'
import { mailboxStoreConformance } from '@passage/sdk/testing'

mailboxStoreConformance(t, async () => new MemoryMailboxStore())
