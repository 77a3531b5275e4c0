// The chat header says how a contact is reached now (issue 16): LAN, direct, relay, mailbox.
import t from 'tap'
import { presenceLabel } from '../../src/format.js'

t.test('each route has its words in the header', async (t) => {
  t.equal(presenceLabel({ online: true, route: 'lan' }), 'LAN')
  t.equal(presenceLabel({ online: true, route: 'direct' }), 'direct')
  t.equal(presenceLabel({ online: true, route: 'relay' }), 'via relay')
  t.equal(presenceLabel({ online: false, route: 'mailbox' }), 'offline')
  t.equal(presenceLabel({ online: false }), 'offline')
})
