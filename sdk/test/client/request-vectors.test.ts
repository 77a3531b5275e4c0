import t from 'tap'
import {
  cleanDisplayName,
  decodeChatPayload,
  encodeChatPayload,
  MalformedError,
  MAX_INTRO_NAME_BYTES,
  toHex,
  utf8,
  type Bytes,
} from '@passage/sdk'
import { hexVector } from '../helpers/protocol-doc.js'

const id = Uint8Array.from({ length: 16 }, (_, i) => i) as Bytes
const T = 1764200000000

t.test('the intro vector of docs/PROTOCOL.md, both ways', async (t) => {
  const lists = { sender: T, recipient: 1764100000000 }
  const intro = encodeChatPayload({
    kind: 'intro',
    id,
    sentAt: 1764000000000,
    lists,
    name: 'Alice 🐇',
  })
  t.equal(toHex(intro), toHex(hexVector('requests.introPayload')))
  t.same(decodeChatPayload(intro), {
    id,
    sentAt: 1764000000000,
    lists,
    kind: 'intro',
    name: 'Alice 🐇',
  })
})

t.test('the sync-contacts flags: removed and blocked, each state both ways', async (t) => {
  const lists = { sender: T, recipient: T }
  const publicKey = hexVector('server.publicKey')
  const blocked = encodeChatPayload({
    kind: 'sync-contacts',
    id,
    sentAt: 1764000000000,
    lists,
    contacts: [{ publicKey, removed: true, blocked: true }],
  })
  t.equal(toHex(blocked), toHex(hexVector('requests.syncBlockedPayload')))
  const states = [{}, { removed: true }, { blocked: true }, { removed: true, blocked: true }]
  const contacts = states.map((s) => ({ publicKey, name: '屏蔽 🚫', ...s }))
  const decoded = decodeChatPayload(
    encodeChatPayload({ kind: 'sync-contacts', id, sentAt: 1, lists, contacts }),
  )
  t.same(decoded.kind === 'sync-contacts' && decoded.contacts, contacts)
  const unknown = Uint8Array.from(blocked)
  unknown[43] = 0x07 // a flag bit nobody defined
  t.throws(() => decodeChatPayload(unknown), MalformedError)
})

t.test('an intro name is 1 to 64 bytes of UTF-8, only in version 2', async (t) => {
  const lists = { sender: 1, recipient: 0 }
  const at = (name: string) => ({ kind: 'intro' as const, id, sentAt: 1, lists, name })
  t.throws(() => encodeChatPayload(at('')), MalformedError)
  t.throws(() => encodeChatPayload(at('x'.repeat(MAX_INTRO_NAME_BYTES + 1))), MalformedError)
  t.throws(
    () => encodeChatPayload({ kind: 'intro', id, sentAt: 1, name: 'x' }),
    MalformedError,
    'needs list seqs',
  )
  const longest = encodeChatPayload(at('名'.repeat(21)))
  t.equal(decodeChatPayload(longest).kind, 'intro', '63 bytes of CJK')
  const good = hexVector('requests.introPayload')
  for (const [offset, value, what] of [
    [42, 0, 'an empty name'],
    [42, 65, 'a name over 64 bytes'],
    [43, 0xff, 'invalid UTF-8'],
  ] as const) {
    const bad = Uint8Array.from(good)
    bad[offset] = value
    t.throws(() => decodeChatPayload(bad), MalformedError, what)
  }
})

t.test(
  'names others claim are cleaned: no controls or invisible tricks; CJK, emoji kept',
  async (t) => {
    t.equal(
      cleanDisplayName('  Mallory\u202e\n(admin)\t '),
      'Mallory (admin)',
      'bidi override, newline',
    )
    t.equal(cleanDisplayName('Ali\u200bce\u0007\u2066'), 'Alice', 'zero-width space, bell, isolate')
    t.equal(cleanDisplayName('王小明'), '王小明')
    const family = '👨\u200d👩\u200d👧'
    t.equal(cleanDisplayName(`${family} Fam`), `${family} Fam`, 'a joined emoji keeps its joiners')
    t.equal(cleanDisplayName('e\u0301'), '\u00e9', 'NFC')
    t.equal(cleanDisplayName('\ue000\u0000 \u200b'), undefined, 'nothing left: no name')
    t.equal(cleanDisplayName(undefined), undefined)
    const long = cleanDisplayName('🐇'.repeat(40))!
    t.equal(long, '🐇'.repeat(16), '64 bytes: whole emoji only')
    const families = cleanDisplayName(`${family}${family}${family}${family}`)!
    t.ok(utf8(families).byteLength <= MAX_INTRO_NAME_BYTES)
    t.equal(families, `${family}${family}${family}`, 'cut between graphemes, never inside one')
    t.equal(cleanDisplayName('漢'.repeat(30)), '漢'.repeat(21))
  },
)
