// The accept rules and the fork rule of docs/PROTOCOL.md "Groups", on real keys and signatures.
import fc from 'fast-check'
import t from 'tap'
import {
  GroupChain,
  Identity,
  checkGroupTransition,
  decodeGroupState,
  groupMember,
  signGroupState,
  toHex,
  type Bytes,
  type GroupMember,
  type GroupRole,
  type GroupState,
} from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'

const people = Array.from({ length: 8 }, () => Identity.generate(libsignalKeys))
const [owner, admin1, admin2, m1, m2, m3, outsider, newcomer] = people as [
  Identity,
  Identity,
  Identity,
  Identity,
  Identity,
  Identity,
  Identity,
  Identity,
]
const groupId = Uint8Array.from({ length: 16 }, (_, i) => i * 7) as Bytes
const allOk = () => true

const genesis = signGroupState(
  owner,
  {
    groupId,
    revision: 0,
    prevHash: new Uint8Array(32) as Bytes,
    epoch: 0,
    changedAt: 1,
    name: 'base',
    members: [
      { account: owner.publicKey, role: 'owner' },
      { account: admin1.publicKey, role: 'admin' },
      { account: admin2.publicKey, role: 'admin' },
      { account: m1.publicKey, role: 'member' },
      { account: m2.publicKey, role: 'member' },
      { account: m3.publicKey, role: 'member' },
    ],
  },
  { account: owner.publicKey, deviceId: 1 },
)

/** The next state after `prev`, signed by `by` (device 1 of its account), with `members`. */
function next(
  prev: GroupState,
  by: Identity,
  members: GroupMember[],
  over: Partial<{ name: string; epoch: number }> = {},
): GroupState {
  const removed = prev.members.some(
    (m) => !members.some((n) => toHex(n.account) === toHex(m.account)),
  )
  return signGroupState(
    by,
    {
      groupId,
      revision: prev.revision + 1,
      prevHash: prev.hash,
      epoch: over.epoch ?? prev.epoch + (removed ? 1 : 0),
      changedAt: prev.changedAt + 1,
      name: over.name ?? prev.name,
      members,
    },
    { account: by.publicKey, deviceId: 1 },
  )
}
const without = (s: GroupState, who: Identity) =>
  s.members.filter((m) => toHex(m.account) !== toHex(who.publicKey))
const withRole = (s: GroupState, who: Identity, role: GroupRole) =>
  s.members.map((m) => (toHex(m.account) === toHex(who.publicKey) ? { ...m, role } : m))
const add = (s: GroupState, who: Identity, role: GroupRole = 'member') => [
  ...s.members,
  { account: who.publicKey, role },
]

t.test('who may change what', async (t) => {
  const verdict = (s: GroupState) => {
    const check = checkGroupTransition(genesis, s)
    return check.ok ? 'ok' : check.reason
  }
  t.equal(verdict(next(genesis, m1, without(genesis, m1))), 'ok', 'a member leaves')
  t.equal(
    verdict(next(genesis, m1, without(genesis, m2))),
    'not-allowed',
    'a member removes another',
  )
  t.equal(verdict(next(genesis, m1, add(genesis, newcomer))), 'not-allowed', 'a member adds')
  t.equal(
    verdict(next(genesis, m1, genesis.members, { name: 'x' })),
    'not-allowed',
    'a member renames',
  )
  t.equal(verdict(next(genesis, admin1, add(genesis, newcomer))), 'ok', 'an admin adds a member')
  t.equal(verdict(next(genesis, admin1, without(genesis, m3))), 'ok', 'an admin removes a member')
  t.equal(verdict(next(genesis, admin1, genesis.members, { name: '山の会 🏔' })), 'ok', 'renames')
  t.equal(verdict(next(genesis, admin1, without(genesis, admin1))), 'ok', 'an admin leaves')
  t.equal(
    verdict(next(genesis, admin1, add(genesis, newcomer, 'admin'))),
    'not-allowed',
    'an admin adds an admin',
  )
  t.equal(
    verdict(next(genesis, admin1, without(genesis, admin2))),
    'not-allowed',
    'an admin removes an admin',
  )
  t.equal(
    verdict(next(genesis, admin1, withRole(genesis, m1, 'admin'))),
    'not-allowed',
    'an admin promotes',
  )
  t.equal(verdict(next(genesis, owner, withRole(genesis, m1, 'admin'))), 'ok', 'the owner promotes')
  t.equal(
    verdict(next(genesis, owner, without(genesis, admin2))),
    'ok',
    'the owner removes an admin',
  )
  const handedOn = withRole(genesis, admin1, 'owner').filter(
    (m) => toHex(m.account) !== toHex(owner.publicKey),
  )
  t.equal(verdict(next(genesis, owner, handedOn)), 'ok', 'the owner leaves, naming another')
  t.throws(() => next(genesis, owner, without(genesis, owner)), 'no owner left: not even signable')
  t.equal(verdict(next(genesis, outsider, add(genesis, outsider))), 'not-a-member', 'an outsider')
  t.equal(
    verdict(next(genesis, admin1, without(genesis, m3), { epoch: 0 })),
    'wrong-epoch',
    'a removal keeps the epoch',
  )
  t.equal(
    verdict(next(genesis, admin1, add(genesis, newcomer), { epoch: 1 })),
    'wrong-epoch',
    'an addition moves the epoch',
  )
  const skip = next(next(genesis, admin1, add(genesis, newcomer)), admin1, genesis.members)
  t.equal(verdict(skip), 'not-next', 'two revisions ahead')
})

t.test('1,000 generated states signed by non-admins: none accepted', async (t) => {
  const members = [m1, m2, m3]
  const others = [owner, admin1, admin2, m1, m2, m3, outsider, newcomer]
  const role = fc.constantFrom<GroupRole>('owner', 'admin', 'member')
  const change = fc.record({
    signer: fc.constantFrom(...members, outsider, newcomer),
    remove: fc.subarray(others),
    add: fc.subarray([outsider, newcomer]),
    addRole: role,
    promote: fc.subarray(others),
    promoteTo: role,
    rename: fc.boolean(),
    epochDelta: fc.constantFrom(0, 1, 2),
  })
  let tried = 0
  let accepted = 0
  let chainMoved = 0
  fc.assert(
    fc.property(change, (c) => {
      let list = genesis.members.filter(
        (m) => !c.remove.some((r) => toHex(r.publicKey) === toHex(m.account)),
      )
      list = list.map((m) =>
        c.promote.some((p) => toHex(p.publicKey) === toHex(m.account))
          ? { ...m, role: c.promoteTo }
          : m,
      )
      for (const a of c.add) list.push({ account: a.publicKey, role: c.addRole })
      const owners = list.filter((m) => m.role === 'owner').length
      if (owners !== 1) return // not a state at all (signGroupState refuses it)
      const leavesAlone =
        c.remove.length === 1 &&
        toHex(c.remove[0]!.publicKey) === toHex(c.signer.publicKey) &&
        c.add.length === 0 &&
        !c.rename &&
        list.every((m) => groupMember(genesis, m.account)?.role === m.role)
      if (leavesAlone) return // the one change a member may make
      const state = next(genesis, c.signer, list, {
        name: c.rename ? 'renamed' : genesis.name,
        epoch: genesis.epoch + c.epochDelta,
      })
      tried++
      const received = decodeGroupState(state.bytes, libsignalKeys)
      const chain = new GroupChain([genesis])
      const outcome = chain.offer(received, allOk)
      if (outcome.kind === 'appended' || outcome.kind === 'replaced') accepted++
      if (toHex(chain.head.hash) !== toHex(genesis.hash)) chainMoved++
    }),
    { numRuns: 3500, seed: 20261206 },
  )
  t.ok(tried >= 1000, `${tried} states made (at least 1,000)`)
  t.equal(accepted, 0, 'none accepted')
  t.equal(chainMoved, 0, 'no chain moved')
})

t.test('a state whose signing device is not active is refused', async (t) => {
  const s1 = next(genesis, admin1, add(genesis, newcomer))
  const chain = new GroupChain([genesis])
  t.match(
    chain.offer(s1, () => false),
    { kind: 'refused', reason: 'not-allowed' },
  )
  t.equal(chain.head.revision, 0)
  t.match(chain.offer(s1, allOk), { kind: 'appended' })
  t.match(chain.offer(s1, allOk), { kind: 'duplicate' })
})

t.test('two admins change the group at once: every member ends on the same chain', async (t) => {
  // Revision 1 by admin1 and by admin2 (a fork), each followed by its own revision 2; then the
  // owner's revision 2 on each branch, and one state built on each; delivered in every order.
  const a1 = next(genesis, admin1, add(genesis, newcomer))
  const b1 = next(genesis, admin2, without(genesis, m3))
  const a2 = next(a1, owner, withRole(a1, m1, 'admin'))
  const b2 = next(b1, owner, b1.members, { name: 'after b' })
  const states = [a1, b1, a2, b2]
  const winner1 = toHex(a1.hash) < toHex(b1.hash) ? a1 : b1
  const winner2 = winner1 === a1 ? a2 : b2
  fc.assert(
    fc.property(
      fc.array(fc.shuffledSubarray(states, { minLength: 4, maxLength: 4 }), {
        minLength: 5,
        maxLength: 5,
      }),
      (orders) => {
        const heads = orders.map((order) => {
          const chain = new GroupChain([genesis])
          for (const s of order) chain.offer(s, allOk)
          return toHex(chain.head.hash)
        })
        for (const h of heads) if (h !== toHex(winner2.hash)) throw new Error(`diverged: ${h}`)
      },
    ),
    { numRuns: 100, seed: 7 },
  )
  // Told the losing branch first, a member switches when the winner arrives.
  const loser1 = winner1 === a1 ? b1 : a1
  const chain = new GroupChain([genesis])
  t.match(chain.offer(loser1, allOk), { kind: 'appended' })
  const switched = chain.offer(winner1, allOk)
  t.equal(switched.kind, 'replaced')
  t.same(switched.kind === 'replaced' ? switched.dropped.map((s) => toHex(s.hash)) : [], [
    toHex(loser1.hash),
  ])
  t.match(chain.offer(loser1, allOk), { kind: 'stale' }, 'the loser comes again: nothing moves')
  t.equal(toHex(chain.head.hash), toHex(winner1.hash))
})

t.test('a member behind: states ahead wait for the ones between', async (t) => {
  const s1 = next(genesis, admin1, add(genesis, newcomer))
  const s2 = next(s1, admin1, without(s1, m3))
  const s3 = next(s2, owner, s2.members, { name: 'three' })
  const chain = new GroupChain([genesis])
  t.same(chain.offer(s3, allOk), { kind: 'ahead', want: 1 })
  t.same(chain.offer(s2, allOk), { kind: 'ahead', want: 1 })
  t.match(chain.offer(s1, allOk), { kind: 'appended' })
  t.equal(chain.head.revision, 3, 'the held states followed')
  t.equal(chain.head.epoch, 1)
  t.same(
    chain.after(1).map((s) => s.revision),
    [2, 3],
    'what a member behind at revision 1 is sent',
  )
  // A newcomer starts from the state that added it.
  const joined = new GroupChain([s1])
  t.match(joined.offer(s3, allOk), { kind: 'ahead', want: 2 })
  t.match(joined.offer(s2, allOk), { kind: 'appended' })
  t.equal(joined.head.revision, 3)
  t.match(joined.offer(genesis, allOk), { kind: 'stale' }, 'before its start: nothing to do')
})
