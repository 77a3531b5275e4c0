import { compareBytes } from '../identity/node-id.js'
import { equalBytes, toHex, type Bytes } from '../wire/bytes.js'
import { groupMember, type GroupMember, type GroupRole, type GroupState } from './group-state.js'

/** Why a state was not accepted after another (docs/PROTOCOL.md, "Groups", accept rules). */
export type GroupRefusal =
  | 'other-group'
  | 'not-next'
  | 'wrong-prev-hash'
  | 'not-a-member'
  | 'not-allowed'
  | 'wrong-epoch'
  | 'not-founder'

/** The outcome of {@link checkGroupTransition}: accepted, or refused with the rule broken. */
export type TransitionCheck = { ok: true } | { ok: false; reason: GroupRefusal; detail: string }

const ok: TransitionCheck = { ok: true }
const refuse = (reason: GroupRefusal, detail: string): TransitionCheck => ({
  ok: false,
  reason,
  detail,
})

/** What changed from one state to the next, by account. */
export interface GroupDiff {
  added: GroupMember[]
  removed: GroupMember[]
  /** Members in both whose role changed: `from` the old role. */
  roleChanged: { account: Bytes; from: GroupRole; to: GroupRole }[]
  renamed: boolean
}

export function diffGroupStates(
  prev: Pick<GroupState, 'members' | 'name'>,
  next: Pick<GroupState, 'members' | 'name'>,
): GroupDiff {
  const before = new Map(prev.members.map((m) => [toHex(m.account), m]))
  const after = new Map(next.members.map((m) => [toHex(m.account), m]))
  const diff: GroupDiff = {
    added: [],
    removed: [],
    roleChanged: [],
    renamed: prev.name !== next.name,
  }
  for (const [key, m] of after) {
    const old = before.get(key)
    if (!old) diff.added.push(m)
    else if (old.role !== m.role)
      diff.roleChanged.push({ account: m.account, from: old.role, to: m.role })
  }
  for (const [key, m] of before) if (!after.has(key)) diff.removed.push(m)
  return diff
}

/**
 * The state that makes a group (revision 0) is valid when its signer's account is its owner.
 * (That the signer's device key is an active device of that account is checked by the caller,
 * against the account's device list.)
 */
export function checkGroupGenesis(state: GroupState): TransitionCheck {
  if (state.revision !== 0)
    return refuse('not-next', `revision ${state.revision} is not a group's first`)
  const signer = groupMember(state, state.signer.account)
  if (signer?.role !== 'owner')
    return refuse('not-founder', 'the first state is signed by its owner')
  return ok
}

/**
 * The accept rules of a change: `next` follows `prev` (same group, revision + 1, `prevHash`
 * = hash of `prev`), its signer is a member of `prev`, and what it changes is the signer's
 * to change:
 *
 * - a **member** may only leave: `next` is `prev` without the signer;
 * - an **admin** may add and remove members (role member), rename the group, and leave;
 * - the **owner** may do anything, and leaves only by handing the ownership on in that state;
 * - `epoch` grows by one exactly when someone is removed (or left), else it stays.
 *
 * The signer's device key being an active device of its account is the caller's check.
 */
export function checkGroupTransition(prev: GroupState, next: GroupState): TransitionCheck {
  if (!equalBytes(prev.groupId, next.groupId)) return refuse('other-group', 'another group')
  if (next.revision !== prev.revision + 1) {
    return refuse('not-next', `revision ${next.revision} does not follow ${prev.revision}`)
  }
  if (!equalBytes(next.prevHash, prev.hash)) {
    return refuse('wrong-prev-hash', `revision ${next.revision} names another previous state`)
  }
  const signer = groupMember(prev, next.signer.account)
  if (!signer) return refuse('not-a-member', 'the signer is not a member')
  const diff = diffGroupStates(prev, next)
  const expectedEpoch = prev.epoch + (diff.removed.length > 0 ? 1 : 0)
  if (next.epoch !== expectedEpoch) {
    return refuse('wrong-epoch', `epoch ${next.epoch}, expected ${expectedEpoch}`)
  }
  const leavesAlone =
    diff.removed.length === 1 &&
    equalBytes(diff.removed[0]!.account, signer.account) &&
    diff.added.length === 0 &&
    diff.roleChanged.length === 0 &&
    !diff.renamed
  switch (signer.role) {
    case 'member':
      return leavesAlone ? ok : refuse('not-allowed', 'a member may only leave')
    case 'admin': {
      if (leavesAlone) return ok
      if (diff.roleChanged.length > 0) return refuse('not-allowed', 'only the owner changes roles')
      if (diff.added.some((m) => m.role !== 'member')) {
        return refuse('not-allowed', 'an admin adds members, not admins')
      }
      const removesOthers = diff.removed.filter((m) => !equalBytes(m.account, signer.account))
      if (removesOthers.some((m) => m.role !== 'member')) {
        return refuse('not-allowed', 'an admin removes members, not admins or the owner')
      }
      return ok
    }
    case 'owner':
      // One owner in every state is a form rule (decodeGroupState): an owner who left named another.
      return ok
  }
}

/** What {@link GroupChain.offer} did with a state. */
export type OfferOutcome =
  /** It extends the head. */
  | { kind: 'appended' }
  /** It won a fork at its revision (lower hash): the states from there were replaced. */
  | { kind: 'replaced'; dropped: GroupState[] }
  /** Already held (the same hash). */
  | { kind: 'duplicate' }
  /** It lost a fork at its revision, or names a state not in the chain: nothing changed. */
  | { kind: 'stale' }
  /** It is ahead of the head: held until the states between arrive (ask a member for them). */
  | { kind: 'ahead'; want: number }
  | { kind: 'refused'; reason: GroupRefusal; detail: string }

/** States held at most per group: ahead of the head, or built on a state this chain does not hold. */
const MAX_HELD = 64

/**
 * A group's chain of states as one member holds it, from the first it accepted to the head,
 * and the fork rule: at each revision the valid state with the lowest hash wins, so members
 * that saw two admins' concurrent changes in any order end on the same chain. States that
 * cannot be placed yet (ahead of the head, or built on a state of another branch, which may
 * still win) are held and tried again whenever the chain moves. Pure: the signer-device
 * check is passed in as `deviceOk`.
 */
export class GroupChain {
  private readonly states: GroupState[]
  private readonly held = new Map<string, GroupState>()

  /** @param states consecutive states (the first is trusted: a genesis checked, or a held head) */
  constructor(states: readonly GroupState[]) {
    if (states.length === 0) throw new Error('a group chain starts from a state')
    this.states = [...states]
  }

  get head(): GroupState {
    return this.states[this.states.length - 1]!
  }

  get base(): GroupState {
    return this.states[0]!
  }

  /** The held state at `revision`, if the chain holds it. */
  at(revision: number): GroupState | undefined {
    return this.states[revision - this.base.revision]
  }

  /** The states after `revision`, oldest first (what a member behind asks for). */
  after(revision: number): GroupState[] {
    return this.states.slice(Math.max(0, revision - this.base.revision + 1))
  }

  /**
   * Offers a state received from a member. `deviceOk` says whether its signer's device key is
   * an active device of the signer's account (from that account's device list).
   */
  offer(state: GroupState, deviceOk: (state: GroupState) => boolean): OfferOutcome {
    const { outcome, hold } = this.place(state, deviceOk)
    if (hold) this.hold(state)
    if (outcome.kind === 'appended' || outcome.kind === 'replaced') this.drain(deviceOk)
    return outcome
  }

  private hold(state: GroupState): void {
    const key = toHex(state.hash)
    if (this.held.has(key)) return
    if (this.held.size >= MAX_HELD) {
      // Keep the nearest: drop the held state furthest ahead.
      let far: [string, GroupState] | undefined
      for (const entry of this.held) if (!far || entry[1].revision > far[1].revision) far = entry
      if (far![1].revision <= state.revision) return
      this.held.delete(far![0])
    }
    this.held.set(key, state)
  }

  private place(
    state: GroupState,
    deviceOk: (state: GroupState) => boolean,
  ): { outcome: OfferOutcome; hold?: boolean } {
    const head = this.head
    if (state.revision > head.revision + 1) {
      return { outcome: { kind: 'ahead', want: head.revision + 1 }, hold: true }
    }
    if (state.revision <= this.base.revision) {
      const same = equalBytes(this.base.hash, state.hash)
      return { outcome: same ? { kind: 'duplicate' } : { kind: 'stale' } }
    }
    const prev = this.at(state.revision - 1)!
    const present = this.at(state.revision)
    if (present && equalBytes(present.hash, state.hash)) return { outcome: { kind: 'duplicate' } }
    const check = checkGroupTransition(prev, state)
    if (!check.ok) {
      // Built on a state this chain does not hold: another branch, which may still win.
      if (check.reason === 'wrong-prev-hash') return { outcome: { kind: 'stale' }, hold: true }
      return { outcome: { kind: 'refused', reason: check.reason, detail: check.detail } }
    }
    if (!deviceOk(state)) {
      return {
        outcome: {
          kind: 'refused',
          reason: 'not-allowed',
          detail: 'the signer device is not active',
        },
      }
    }
    if (!present) {
      this.states.push(state)
      return { outcome: { kind: 'appended' } }
    }
    if (compareBytes(state.hash, present.hash) >= 0) return { outcome: { kind: 'stale' } }
    const dropped = this.states.splice(state.revision - this.base.revision)
    this.states.push(state)
    return { outcome: { kind: 'replaced', dropped } }
  }

  /** Tries the held states again after the chain moved, until none moves it further. */
  private drain(deviceOk: (state: GroupState) => boolean): void {
    for (let progress = true; progress && this.held.size > 0;) {
      progress = false
      for (const [key, state] of [...this.held]) {
        if (state.revision > this.head.revision + 1) continue
        const { outcome, hold } = this.place(state, deviceOk)
        if (hold) continue
        this.held.delete(key)
        if (outcome.kind === 'appended' || outcome.kind === 'replaced') progress = true
      }
    }
  }
}
