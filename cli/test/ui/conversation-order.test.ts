// The chat screen shows a conversation in the order its messages were written (the history's
// order), not the order they arrived: texts that waited in an outbox while a super-node was
// down arrive late and shuffled (issue: "messages showed out of order").
import type { ChatMessage } from '@passage/sdk'
import t from 'tap'
import { conversationOrder } from '../../src/ui/hooks/use-history.js'

const message = (id: string, sentAt: number, receivedAt: number): ChatMessage => ({
  id,
  contactId: 'c1',
  direction: 'in',
  sender: { account: 'c1', deviceId: 1 },
  text: id,
  sentAt,
  receivedAt,
  state: 'delivered',
  read: false,
})

t.test('by send time, whatever the arrival order', async (t) => {
  // Written 1, 2, 3, 4; the last three waited and came in as 4, 2, 3.
  const arrived = [
    message('one', 1_000, 1_001),
    message('four', 4_000, 9_000),
    message('two', 2_000, 9_001),
    message('three', 3_000, 9_002),
  ]
  t.same(
    [...arrived].sort(conversationOrder).map((m) => m.text),
    ['one', 'two', 'three', 'four'],
  )
})

t.test('the same send time: by arrival, then by ID (a stable order on every screen)', async (t) => {
  const a = message('aa', 5_000, 7_000)
  const b = message('bb', 5_000, 6_000)
  const c = message('cc', 5_000, 6_000)
  t.same(
    [a, c, b].sort(conversationOrder).map((m) => m.id),
    ['bb', 'cc', 'aa'],
  )
})
