import t from 'tap'
import { Identity, mailboxKeyFor, toHex, type DhtNode } from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import { createTestnet, mulberry32 } from '@passage/sdk/testing'

// Issue 3: store 1000 envelopes, kill 30% of the nodes: 100% remain retrievable.
const MAILBOXES = 100
const PER_MAILBOX = 10

t.test('1000 envelopes survive the loss of 30% of 100 nodes', async (t) => {
  const started = Date.now()
  const net = await createTestnet(100, { requestTimeoutMs: 100 }) // dead nodes fail in 0.7 s
  t.teardown(() => net.destroy())
  const owners = Array.from({ length: MAILBOXES }, () => Identity.generate(libsignalKeys))
  const sent = new Map<string, Set<string>>()
  const random = mulberry32(42)
  const pick = () => net.nodes[Math.floor(random() * net.nodes.length)]!
  let minStored = Infinity
  let onAll = 0
  // 10 mailboxes at a time; each sender puts its 10 envelopes concurrently.
  for (let i = 0; i < MAILBOXES; i += 10) {
    await Promise.all(
      owners.slice(i, i + 10).map(async (owner, j) => {
        const set = new Set<string>()
        sent.set(toHex(owner.publicKey), set)
        const sender = pick()
        // One lookup per recipient, shared by its envelopes (as a client sending a burst).
        const lookup = await sender.lookup(mailboxKeyFor(owner.publicKey))
        await Promise.all(
          Array.from({ length: PER_MAILBOX }, async (_, n) => {
            const data = new TextEncoder().encode(`envelope ${i + j}/${n} ${'x'.repeat(n * 150)}`)
            const r = await sender.putEnvelope(owner.publicKey, data, { lookup })
            minStored = Math.min(minStored, r.stored)
            if (r.stored === 20) onAll++
            set.add(toHex(data))
          }),
        )
      }),
    )
  }
  // On a loaded machine a replica may miss a put (timeouts); the aim is at least 3.
  t.ok(minStored >= 3, `every envelope was stored on at least 3 replicas (min ${minStored})`)
  t.comment(
    `stored ${MAILBOXES * PER_MAILBOX} envelopes in ${Date.now() - started} ms, ${onAll} on all 20 replicas`,
  )

  const reader = net.nodes[0]!
  const victims: DhtNode[] = []
  const shuffled = net.nodes.slice(1).sort(() => random() - 0.5)
  victims.push(...shuffled.slice(0, 30))
  for (const v of victims) await net.kill(v)
  t.equal(net.nodes.length, 70)

  const killedAt = Date.now()
  let retrieved = 0
  let missing = 0
  for (let i = 0; i < MAILBOXES; i += 10) {
    await Promise.all(
      owners.slice(i, i + 10).map(async (owner) => {
        const got = await reader.fetchMailbox(owner)
        const want = sent.get(toHex(owner.publicKey))!
        const have = new Set(got.map((e) => toHex(e.data)))
        for (const w of want) {
          if (have.has(w)) retrieved++
          else missing++
        }
      }),
    )
  }
  t.equal(missing, 0, 'nothing is lost')
  t.equal(retrieved, MAILBOXES * PER_MAILBOX, '100% retrievable')
  t.comment(`fetched after the kill in ${Date.now() - killedAt} ms`)
  // The survivors among the original replicas still hold each mailbox.
  const key = mailboxKeyFor(owners[0]!.publicKey)
  let holders = 0
  for (const n of net.nodes)
    if ((await n.mailboxStore.list(key, Date.now(), 1)).length > 0) holders++
  t.ok(holders >= 3, `${holders} live replicas of the first mailbox`)
})
