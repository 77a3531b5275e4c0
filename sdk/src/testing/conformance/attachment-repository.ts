// The attachment clauses of the ClientRepository port (docs/PROTOCOL.md "Attachments"): rows
// kept and replaced with their ciphertext held, chunks kept for a resume and forgotten.
import type { ClientRepository, StoredAttachment } from '../../core/client/ports.js'
import type { Bytes } from '../../core/wire/bytes.js'
import type { ConformanceTest } from './mailbox-store.js'

const T0 = 1_764_000_000_000
const ALICE = 'p1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'

function row(messageId: string, over: Partial<StoredAttachment> = {}): StoredAttachment {
  return {
    messageId,
    contactId: ALICE,
    direction: 'in',
    sender: `${ALICE}.1`,
    pointer: Uint8Array.of(1, 2, 3),
    state: 'available',
    updatedAt: T0,
    ...over,
  }
}

const hex = (b: Bytes | undefined) => (b ? [...b].join(',') : undefined)

/**
 * The attachment behaviour every {@link ClientRepository} must have, as tap subtests (see
 * `clientRepositoryConformance` for `makeRepository`).
 */
export function attachmentRepositoryConformance(
  t: ConformanceTest,
  makeRepository: (t: ConformanceTest) => Promise<ClientRepository>,
): void {
  const open = async (t: ConformanceTest) => {
    const repository = await makeRepository(t)
    t.teardown(() => repository.close())
    return repository
  }

  t.test('attachments: saved, replaced, ciphertext kept by a row without one', async (t) => {
    const r = await open(t)
    t.equal(await r.attachment('aa'), undefined)
    await r.transaction((w) => w.saveAttachment(row('aa', { ciphertext: Uint8Array.of(7, 8) })))
    const saved = await r.attachment('aa')
    t.equal(saved?.state, 'available')
    t.equal(hex(saved?.ciphertext), '7,8')
    t.equal(saved?.sender, `${ALICE}.1`)
    await r.transaction((w) =>
      w.saveAttachment(
        row('aa', { state: 'downloaded', pointer: Uint8Array.of(9), updatedAt: T0 + 5 }),
      ),
    )
    const replaced = await r.attachment('aa')
    t.equal(replaced?.state, 'downloaded', 'state replaced')
    t.equal(hex(replaced?.pointer), '9', 'pointer replaced')
    t.equal(hex(replaced?.ciphertext), '7,8', 'the ciphertext held is kept')
    await r.transaction((w) => w.saveAttachment(row('bb', { direction: 'out' })))
    const many = await r.attachmentsOf(['bb', 'zz', 'aa'])
    t.same(
      many.map((a) => [a.messageId, a.direction, a.ciphertext]).sort(),
      [
        ['aa', 'in', undefined],
        ['bb', 'out', undefined],
      ],
      'rows of the messages that have one, without their ciphertext',
    )
  })

  t.test('attachment chunks: kept once by index, listed, forgotten', async (t) => {
    const r = await open(t)
    t.equal((await r.attachmentChunks('aa')).size, 0)
    await r.transaction(async (w) => {
      await w.saveAttachmentChunk('aa', 2, Uint8Array.of(2))
      await w.saveAttachmentChunk('aa', 0, Uint8Array.of(0))
      await w.saveAttachmentChunk('aa', 0, Uint8Array.of(9)) // the first copy stays
      await w.saveAttachmentChunk('bb', 0, Uint8Array.of(5))
    })
    const chunks = await r.attachmentChunks('aa')
    t.same([...chunks.keys()].sort(), [0, 2])
    t.equal(hex(chunks.get(0)), '0')
    await r.transaction((w) => w.dropAttachmentChunks('aa'))
    t.equal((await r.attachmentChunks('aa')).size, 0)
    t.equal((await r.attachmentChunks('bb')).size, 1, 'another attachment keeps its chunks')
  })

  t.test('attachment drafts: written out of order, kept with the row, or discarded', async (t) => {
    const r = await open(t)
    const draft = r.attachmentDraft?.('aa')
    if (!draft) {
      t.pass('this repository gives no drafts: fetches hand it the whole ciphertext')
      return
    }
    draft.write(4, Uint8Array.of(4, 5))
    draft.write(0, Uint8Array.of(0, 1, 2, 3))
    draft.write(6, Uint8Array.of(6))
    await draft.complete()
    t.equal(await r.attachment('aa'), undefined, 'nothing of a draft is a row')
    await r.transaction((w) => w.saveAttachment(row('aa', { state: 'downloaded' }), draft))
    const kept = await r.attachment('aa')
    t.equal(kept?.state, 'downloaded')
    t.equal(hex(kept?.ciphertext), '0,1,2,3,4,5,6', 'the draft is the row’s ciphertext')

    const dropped = r.attachmentDraft!('bb')!
    dropped.write(0, Uint8Array.of(9, 9))
    await dropped.discard()
    await dropped.discard() // twice: nothing more to do
    await r.transaction((w) => w.saveAttachment(row('bb')))
    t.equal((await r.attachment('bb'))?.ciphertext, undefined, 'a discarded draft is no ciphertext')

    const rolledBack = r.attachmentDraft!('cc')!
    rolledBack.write(0, Uint8Array.of(7))
    await rolledBack.complete()
    await t.rejects(
      r.transaction(async (w) => {
        await w.saveAttachment(row('cc'), rolledBack)
        throw new Error('the transaction fails')
      }),
      /the transaction fails/,
    )
    t.equal(
      await r.attachment('cc'),
      undefined,
      'a draft saved in a rolled-back transaction: no row',
    )
  })

  t.test('attachments: a ciphertext forgotten, the row kept', async (t) => {
    const r = await open(t)
    await r.transaction(async (w) => {
      await w.saveAttachment(row('aa', { state: 'downloaded', ciphertext: Uint8Array.of(7, 8) }))
      await w.saveAttachment(row('bb', { direction: 'out', ciphertext: Uint8Array.of(5) }))
    })
    await r.transaction((w) => w.dropAttachmentCiphertext('aa'))
    const dropped = await r.attachment('aa')
    t.equal(dropped?.ciphertext, undefined, 'no ciphertext')
    t.equal(dropped?.state, 'downloaded', 'the row stays')
    t.equal(hex((await r.attachment('bb'))?.ciphertext), '5', 'another keeps its own')
    await r.transaction((w) => w.dropAttachmentCiphertext('zz')) // none held: nothing to do
  })

  t.test('attachments: a deleted conversation takes its attachments with it', async (t) => {
    const r = await open(t)
    const CAROL = 'p1cccccccccccccccccccccccccccccccccccccc'
    await r.transaction(async (w) => {
      await w.saveAttachment(row('aa', { state: 'downloaded', ciphertext: Uint8Array.of(7, 8) }))
      await w.saveAttachment(row('ab', { state: 'downloading' }))
      await w.saveAttachmentChunk('ab', 0, Uint8Array.of(1))
      await w.saveAttachment(row('cc', { contactId: CAROL, ciphertext: Uint8Array.of(5) }))
      await w.saveAttachmentChunk('cc', 0, Uint8Array.of(2))
    })
    await r.transaction((w) => w.deleteConversation(ALICE))
    t.equal(await r.attachment('aa'), undefined, 'its row and ciphertext are gone')
    t.equal(await r.attachment('ab'), undefined, 'one still being fetched too')
    t.equal((await r.attachmentChunks('ab')).size, 0, 'and the chunks kept for a resume')
    t.equal(hex((await r.attachment('cc'))?.ciphertext), '5', "another conversation's stays")
    t.equal((await r.attachmentChunks('cc')).size, 1)
  })
}
