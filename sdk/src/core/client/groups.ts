// Over 500 lines: a group's lifecycle (create, change membership, roles, send, receive a
// state) works on one stored state and its accept rules; the state's codec and rules are apart
// (core/groups/). Splitting receive from change is the next step when it grows.
import { DeviceFeature } from '../devices/device-list.js'
import {
  MalformedError,
  NoSenderKeyError,
  NotAllowedError,
  NotFoundError,
  UnsupportedError,
} from '../errors.js'
import { encodeGroupId, GROUP_ID_BYTES, parseGroupId } from '../groups/group-id.js'
import {
  decodeGroupState,
  groupMember,
  signGroupState,
  type GroupMember,
  type GroupRole,
  type GroupState,
  type GroupStateBody,
} from '../groups/group-state.js'
import { GROUP_MAILBOX_SEED_BYTES, groupMailboxDays } from '../groups/group-mailbox.js'
import { checkGroupGenesis, diffGroupStates, GroupChain } from '../groups/membership.js'
import { signalAddressOfKey } from '../signal/signal-address.js'
import { SignalMessageType } from '../signal/sealed-message.js'
import type { SignalStorage } from '../signal/signal-storage.js'
import { concatBytes, equalBytes, toHex, type Bytes } from '../wire/bytes.js'
import { encodeChatPayload, MAX_GROUP_STATES, type ChatPayload } from './chat-payload.js'
import type { ClientContext } from './context.js'
import { decodeOutboxSignal, groupMailboxTarget, outboxKey } from './outbox.js'
import type { ClientWriter, OutboxEntry, StoredGroup, StoredMessage, Target } from './ports.js'
import type { ChatMessage, ContactId, GroupInfo, SendOptions } from './types.js'

/** Who sent a group payload: a device of an account (as the inbox proved it). */
export interface GroupSender {
  account: ContactId
  accountKey: Bytes
  deviceId: number
  deviceKey: Bytes
  own: boolean
}

interface ReceivedChain {
  groupId: string
  seed?: Bytes
  readAt?: number
  since?: number
}

/**
 * How long a chain's group mailbox is still read once a newer chain of its device came (from
 * the newer one's key): texts under the old chain were written before it, and one that waited
 * in its sender's outbox longer than this is not read.
 */
export const RETIRED_CHAIN_READ_MS = 3 * 86_400_000

/** A chain's group mailbox to read (docs/PROTOCOL.md, "Group mailboxes"). */
export interface GroupMailboxToRead {
  distributionId: string
  /** `account.device` of the chain's sending device. */
  sender: string
  groupId: string
  seed: Bytes
  /** The days to read, oldest first. */
  days: number[]
}

interface HeldGroup {
  chain: GroupChain
  row: StoredGroup
}

/** What a received group payload leaves for after its transaction. */
export type GroupAfter = () => Promise<void>

const deviceTag = (t: { account: string; deviceId: number }) => `${t.account}.${t.deviceId}`

/**
 * The groups of this device (docs/PROTOCOL.md, "Groups"): their chains of signed states,
 * this device's sender-key chain per group and whom it gave it to, the chains received from
 * other members; sending a text once under the chain to every member device; taking states,
 * keys and texts from the inbox.
 */
export class GroupDirectory {
  private readonly held = new Map<string, HeldGroup>()
  /** Received chains: `distributionIdHex/account.device` → group, group mailbox seed, read time. */
  private readonly senders = new Map<string, ReceivedChain>()
  /** Account keys of the members of the groups held (they need not be contacts). */
  private readonly memberKeys = new Map<ContactId, Bytes>()

  constructor(private readonly ctx: ClientContext) {}

  async load(): Promise<void> {
    const { repository, keys } = this.ctx
    for (const row of await repository.groups()) {
      const states = (await repository.groupStates(row.id)).map((b) => decodeGroupState(b, keys))
      if (states.length === 0) continue
      this.held.set(row.id, { chain: new GroupChain(states), row })
      this.rememberMembers(states[states.length - 1]!)
    }
    for (const s of await repository.groupSenders()) {
      this.senders.set(`${s.distributionId}/${s.sender}`, {
        groupId: s.groupId,
        ...(s.seed ? { seed: s.seed } : {}),
        ...(s.readAt !== undefined ? { readAt: s.readAt } : {}),
        ...(s.since !== undefined ? { since: s.since } : {}),
      })
    }
  }

  /** True once `sender`'s chain `distributionId` (hex) came (its key was taken). */
  knowsChain(distributionId: string, sender: string): boolean {
    return this.senders.has(`${distributionId}/${sender}`)
  }

  /** The accounts of the members of the groups this account is in. */
  memberAccounts(): ContactId[] {
    const out = new Set<ContactId>()
    for (const held of this.held.values()) {
      if (!held.row.member) continue
      for (const m of held.chain.head.members) out.add(signalAddressOfKey(m.account).name)
    }
    return [...out]
  }

  /** The account key of a member of a group held (for sending to accounts that are no contacts). */
  keyOf(account: ContactId): Bytes | undefined {
    return this.memberKeys.get(account)
  }

  /** True when `account` is a member of the group's head state. */
  hasMember(groupId: string, account: ContactId): boolean {
    const held = this.held.get(groupId)
    return (
      !!held && held.chain.head.members.some((m) => signalAddressOfKey(m.account).name === account)
    )
  }

  /** When this device joined (or made) the group. */
  joinedAt(groupId: string): number {
    return this.get(groupId).row.joinedAt
  }

  list(): GroupInfo[] {
    return [...this.held.keys()].map((id) => this.info(id))
  }

  info(groupId: string): GroupInfo {
    const held = this.get(groupId)
    const head = held.chain.head
    const me = groupMember(head, this.ctx.account.publicKey)
    return {
      id: groupId,
      name: head.name,
      revision: head.revision,
      epoch: head.epoch,
      member: held.row.member && me !== undefined,
      ...(me ? { role: me.role } : {}),
      members: head.members.map((m) => {
        const account = signalAddressOfKey(m.account).name
        return { account, role: m.role, me: account === this.ctx.account.textId }
      }),
    }
  }

  // ------------------------------------------------------------------ changes made here

  /** Makes a group of this account (its owner) and the contacts given. */
  async create(name: string, members: ContactId[]): Promise<GroupInfo> {
    const { ctx } = this
    ctx.requireLinked()
    const keys = await this.contactKeys(members)
    const id = ctx.random(GROUP_ID_BYTES)
    const body: GroupStateBody = {
      groupId: id,
      revision: 0,
      prevHash: new Uint8Array(32) as Bytes,
      epoch: 0,
      changedAt: ctx.clock.now(),
      name,
      members: [
        { account: ctx.account.publicKey, role: 'owner' },
        ...keys.map((account) => ({ account, role: 'member' as const })),
      ],
    }
    const state = this.sign(body)
    const groupId = encodeGroupId(id)
    const row: StoredGroup = {
      id: groupId,
      revision: 0,
      member: true,
      joinedAt: ctx.clock.now(),
      given: [],
    }
    await ctx.repository.transaction(async (w) => {
      await w.saveGroup(row)
      await w.saveGroupStates(groupId, [{ revision: 0, bytes: state.bytes }])
    })
    this.held.set(groupId, { chain: new GroupChain([state]), row })
    this.rememberMembers(state)
    await this.distribute(state, [])
    ctx.events.emit('group', { groupId, change: 'created', revision: 0 })
    return this.info(groupId)
  }

  /**
   * Makes the next state of a group from its head: `members` maps the head's members to the
   * next's. Refused here (before anything is signed) when the change is not this account's
   * to make, by the same rules every member applies.
   */
  async change(
    groupId: string,
    change: (head: GroupState) => { members: GroupMember[]; name?: string },
  ): Promise<GroupInfo> {
    const { ctx } = this
    ctx.requireLinked()
    const held = this.get(groupId)
    if (!held.row.member) throw new NotFoundError(`this account is no longer in ${groupId}`)
    const head = held.chain.head
    const next = change(head)
    const diff = diffGroupStates(head, { members: next.members, name: next.name ?? head.name })
    const state = this.sign({
      groupId: head.groupId,
      revision: head.revision + 1,
      prevHash: head.hash,
      epoch: head.epoch + (diff.removed.length > 0 ? 1 : 0),
      changedAt: ctx.clock.now(),
      name: next.name ?? head.name,
      members: next.members,
    })
    const outcome = held.chain.offer(state, () => true)
    if (outcome.kind !== 'appended') {
      const why = outcome.kind === 'refused' ? outcome.detail : outcome.kind
      throw new NotAllowedError(`that change is not allowed: ${why}`)
    }
    await this.persist(groupId, held, [state])
    await this.distribute(state, head.members)
    ctx.events.emit('group', { groupId, change: 'changed', revision: state.revision })
    return this.info(groupId)
  }

  async add(groupId: string, members: ContactId[]): Promise<GroupInfo> {
    const keys = await this.contactKeys(members)
    return this.change(groupId, (head) => ({
      members: [
        ...head.members,
        ...keys
          .filter((k) => !groupMember(head, k))
          .map((account) => ({ account, role: 'member' as const })),
      ],
    }))
  }

  async remove(groupId: string, members: ContactId[]): Promise<GroupInfo> {
    const gone = new Set(members.map((m) => this.memberAccount(groupId, m)))
    return this.change(groupId, (head) => ({
      members: head.members.filter((m) => !gone.has(signalAddressOfKey(m.account).name)),
    }))
  }

  async leave(groupId: string): Promise<GroupInfo> {
    const me = this.ctx.account.publicKey
    return this.change(groupId, (head) => ({
      members: head.members.filter((m) => !equalBytes(m.account, me)),
    }))
  }

  async setRole(groupId: string, member: ContactId, role: GroupRole): Promise<GroupInfo> {
    const account = this.memberAccount(groupId, member)
    return this.change(groupId, (head) => ({
      members: head.members.map((m) =>
        signalAddressOfKey(m.account).name === account ? { ...m, role } : m,
      ),
    }))
  }

  async rename(groupId: string, name: string): Promise<GroupInfo> {
    return this.change(groupId, (head) => ({ members: head.members, name }))
  }

  // ------------------------------------------------------------------ sending

  /**
   * Sends a text to a group: encrypted once under this device's chain, the same bytes to
   * every member device (ours included). The chain is renewed first when a device it was
   * given to is no longer a recipient (a member removed or gone, a device revoked), and given
   * to every recipient that lacks it.
   */
  async send(
    groupId: string,
    text: string,
    options: SendOptions = {},
    /** An attachment's pointer and the message ID chosen for it (the text is its caption). */
    attachment?: { id: Bytes; pointer: Bytes },
  ): Promise<ChatMessage> {
    const { ctx } = this
    options.signal?.throwIfAborted()
    ctx.requireLinked()
    const held = this.get(groupId)
    if (!held.row.member) throw new NotFoundError(`this account is no longer in ${groupId}`)
    const head = held.chain.head
    await this.learnDevices(head)
    const targets = this.recipients(head)
    const now = ctx.clock.now()
    const tags = new Set(targets.map(deviceTag))
    let { chain, given, seed, seeded = [] } = held.row
    // A chain made before group mailboxes (no seed) is renewed like one given to a device gone.
    if (!chain || !seed || given.some((tag) => !tags.has(tag))) {
      chain = ctx.random(16)
      seed = ctx.random(GROUP_MAILBOX_SEED_BYTES)
      given = []
      seeded = []
    }
    const lacking = targets.filter((t) => !given.includes(deviceTag(t)))
    if (lacking.length > 0) {
      const distribution = await ctx.session.createGroupKey(chain)
      const reading: Target[] = []
      const others: Target[] = []
      for (const t of lacking) (this.readsGroupMailbox(t.account) ? reading : others).push(t)
      const key = { kind: 'group-key' as const, group: head.groupId, distribution }
      // Delivered before the text, so a recipient rarely holds a text waiting for its key.
      await Promise.all([
        ctx.outbox.enqueueControl({ ...key, seed }, reading, undefined, true),
        ctx.outbox.enqueueControl(key, others, undefined, true),
      ])
      given = [...given, ...lacking.map(deviceTag)]
      seeded = [...seeded, ...reading.map(deviceTag)]
    }
    if (chain !== held.row.chain || given !== held.row.given) {
      held.row = { ...held.row, chain, given, seed, seeded }
      await ctx.repository.transaction((w) => w.saveGroup(held.row))
    }

    const id = attachment?.id ?? ctx.outbox.newMessageId()
    const sentAt = ctx.outbox.nextSentAt(now)
    const body = attachment
      ? { kind: 'group-attachment' as const, pointer: attachment.pointer }
      : { kind: 'group-text' as const, text }
    const plaintext = encodeChatPayload({
      ...body,
      id,
      sentAt,
      lists: { sender: ctx.devices.seqOf(ctx.account.textId), recipient: 0 },
      group: head.groupId,
      revision: head.revision,
    } as ChatPayload)
    const ciphertext = await ctx.session.groupEncrypt(chain, plaintext)
    const signal = concatBytes(Uint8Array.of(SignalMessageType.senderKey), ciphertext)
    const idHex = toHex(id)
    const message = ctx.outbox.outgoing(groupId, idHex, text, sentAt, now)
    const entry = (to: Target, sealed?: Bytes): OutboxEntry => ({
      id: outboxKey(idHex, groupId, to),
      contactId: groupId,
      to,
      plaintext,
      signal,
      ...(sealed ? { sealed } : {}),
      messageId: idHex,
      createdAt: now,
      attempts: 0,
      nextAttemptAt: now,
    })
    // The devices that read the chain's group mailbox share one copy there (docs/PROTOCOL.md,
    // "Group mailboxes"); those a link may reach get theirs over it first, and are covered by
    // that copy when the link fails (see `coveredByGroupMailbox`). The others get their own
    // copies, as 1:1 messages.
    const reads = new Set(seeded)
    const own = targets.filter((t) => !reads.has(deviceTag(t)) || this.mayReach(t))
    const entries = own.map((to) => entry(to))
    // Its `sealed` holds the chain's seed: the day's mailbox is the put's (see the outbox).
    if (targets.some((t) => reads.has(deviceTag(t)))) {
      entries.push(entry(groupMailboxTarget(groupId), seed))
    }
    return ctx.outbox.sendPrepared(message, entries, options)
  }

  /**
   * Reads the device list of every member whose list was never fetched (a member who just
   * joined, or a group we just joined: its own fetch runs after the state is taken), so a
   * text goes to all of a member's devices from the first one. Without a list only device 1
   * would get it, and a device learned later gets the chain from that point on: the texts
   * before it would be lost to it. A list the DHT cannot give now (it failed within the
   * minute) is not waited for: device 1 gets the text, as before.
   */
  private async learnDevices(head: GroupState): Promise<void> {
    const { ctx } = this
    const unknown = head.members.filter((m) => {
      const account = signalAddressOfKey(m.account).name
      return account !== ctx.account.textId && !ctx.devices.published(account)
    })
    if (unknown.length === 0) return
    await Promise.all(
      unknown.map((m) =>
        ctx.guard('fetching a member’s device list', () =>
          ctx.devices.refresh(signalAddressOfKey(m.account).name, m.account),
        ),
      ),
    )
  }

  /**
   * True when an outbox entry's copy of a group text is also in its chain's group mailbox for
   * its device: the chain is this device's current one, whose seed the device was given. Such
   * a copy that no link took is not sealed to the device's own mailbox.
   */
  coveredByGroupMailbox(entry: OutboxEntry): boolean {
    if (!entry.to || !entry.signal || entry.to.deviceId === 0) return false
    const row = this.held.get(entry.contactId)?.row
    if (!row?.chain || !row.seeded?.includes(deviceTag(entry.to))) return false
    const signal = decodeOutboxSignal(entry.signal)
    if (signal.type !== SignalMessageType.senderKey) return false
    return equalBytes(this.ctx.session.groupDistributionId(signal.body), row.chain)
  }

  /** True when the account's devices read group mailboxes (its list announces the feature). */
  private readsGroupMailbox(account: ContactId): boolean {
    const own = account === this.ctx.account.textId
    const key = own ? this.ctx.account.publicKey : this.memberKeys.get(account)
    const features = this.ctx.devices.listOf(account, key)?.features ?? 0
    return (features & DeviceFeature.groupMailbox) !== 0
  }

  /** True when a direct link may reach the device now (its copy goes there, not to a mailbox). */
  private mayReach(to: Target): boolean {
    const { ctx } = this
    const accountKey =
      to.account === ctx.account.textId ? ctx.account.publicKey : this.memberKeys.get(to.account)
    const key = accountKey && ctx.devices.keyOf(to.account, to.deviceId, accountKey)
    return key !== undefined && ctx.direct.mayReach(key)
  }

  /** Every active device of every member, this account's other devices included. */
  private recipients(head: GroupState): Target[] {
    const { ctx } = this
    const out: Target[] = []
    for (const m of head.members) {
      const account = signalAddressOfKey(m.account).name
      out.push(...ctx.devices.targets(account, m.account))
    }
    return out
  }

  /** Sends a state to every device of its members and of those it removed, ours included. */
  private async distribute(state: GroupState, before: GroupMember[]): Promise<void> {
    const accounts = new Map<string, Bytes>()
    for (const m of [...before, ...state.members]) {
      accounts.set(signalAddressOfKey(m.account).name, m.account)
    }
    const targets: Target[] = []
    for (const [account, key] of accounts) targets.push(...this.ctx.devices.targets(account, key))
    await this.ctx.outbox.enqueueControl({ kind: 'group-state', state: state.bytes }, targets)
  }

  // ------------------------------------------------------------------ from the inbox

  /**
   * A group state from a member's device (pairwise, so its sender is proven). Returns what to
   * do after the transaction (ask for missing states, fetch members' lists).
   */
  async receiveState(
    w: ClientWriter,
    bytes: Bytes,
    sender: GroupSender,
    afterwards: GroupAfter[],
  ): Promise<void> {
    const { ctx } = this
    const state = decodeGroupState(bytes, ctx.keys)
    const groupId = encodeGroupId(state.groupId)
    const held = this.held.get(groupId)
    if (!held) {
      // A group we are told of: it must list us, come from one of its members, and be signed
      // by its owner or an admin.
      if (!groupMember(state, ctx.account.publicKey)) return
      if (!groupMember(state, sender.accountKey)) {
        throw new MalformedError('a group state from an account it does not list')
      }
      const signer = groupMember(state, state.signer.account)
      const genesisOk = state.revision === 0 ? checkGroupGenesis(state).ok : true
      if (!genesisOk || !signer || signer.role === 'member' || !this.deviceOk(state)) {
        throw new MalformedError('a group state not signed by an owner or admin of the group')
      }
      const row: StoredGroup = {
        id: groupId,
        revision: state.revision,
        member: true,
        joinedAt: ctx.clock.now(),
        given: [],
      }
      await w.saveGroup(row)
      await w.saveGroupStates(groupId, [{ revision: state.revision, bytes: state.bytes }])
      this.held.set(groupId, { chain: new GroupChain([state]), row })
      this.accepted(groupId, state, 'joined', afterwards)
      return
    }
    const before = held.chain.head
    const outcome = held.chain.offer(state, (s) => this.deviceOk(s))
    if (outcome.kind === 'ahead') {
      afterwards.push(() => this.requestStates(groupId, before.revision, sender))
      return
    }
    if (outcome.kind !== 'appended' && outcome.kind !== 'replaced') return
    // The chain may have moved further (held states followed): keep everything after `before`'s
    // revision that differs, from the first changed revision on.
    const from = outcome.kind === 'replaced' ? state.revision : before.revision + 1
    const changed = held.chain.after(from - 1)
    await w.saveGroupStates(
      groupId,
      changed.map((s) => ({ revision: s.revision, bytes: s.bytes })),
    )
    const head = held.chain.head
    const member = groupMember(head, ctx.account.publicKey) !== undefined
    held.row = { ...held.row, revision: head.revision, member }
    await w.saveGroup(held.row)
    this.accepted(groupId, head, member ? 'changed' : 'removed', afterwards)
  }

  private accepted(
    groupId: string,
    head: GroupState,
    change: 'joined' | 'changed' | 'removed',
    afterwards: GroupAfter[],
  ): void {
    this.rememberMembers(head)
    afterwards.push(async () => {
      this.ctx.events.emit('group', { groupId, change, revision: head.revision })
      // Members whose devices we do not know yet: their lists, so every device gets its copy.
      for (const m of head.members) {
        const account = signalAddressOfKey(m.account).name
        if (account === this.ctx.account.textId || this.ctx.devices.published(account)) continue
        await this.ctx.guard('fetching a member’s device list', () =>
          this.ctx.devices.refresh(account, m.account),
        )
      }
      await this.retryGroup(groupId)
    })
  }

  /** A member's chain for a group: taken inside the transaction (`tx`), noted, then waiting messages retried. */
  async receiveKey(
    w: ClientWriter,
    tx: SignalStorage,
    group: Bytes,
    distribution: Bytes,
    sender: GroupSender,
    afterwards: GroupAfter[],
    /** The chain's group mailbox seed, when its sender gave one. */
    seed?: Bytes,
    /** When the key was sent: its group mailbox is read from that day on. */
    sentAt?: number,
  ): Promise<void> {
    const groupId = encodeGroupId(group)
    const held = this.held.get(groupId)
    if (held && !groupMember(held.chain.head, sender.accountKey)) {
      throw new MalformedError('a group key from an account that is not a member')
    }
    const address = { name: sender.account, deviceId: sender.deviceId }
    const distributionId = toHex(
      await this.ctx.session.processGroupKey(address, distribution, { within: tx }),
    )
    const tag = deviceTag({ account: sender.account, deviceId: sender.deviceId })
    // Its group mailbox is read from the time the key was sent (a member away since reads
    // every day after it), or from now when the sender's clock says a later time.
    const known = this.senders.get(`${distributionId}/${tag}`)
    const now = this.ctx.clock.now()
    const since = known?.since ?? Math.min(sentAt ?? now, now)
    const chain: ReceivedChain = {
      groupId,
      ...((seed ?? known?.seed) ? { seed: seed ?? known?.seed } : {}),
      readAt: known?.readAt ?? since,
      since,
    }
    await w.saveGroupSender({ distributionId, sender: tag, ...chain })
    this.senders.set(`${distributionId}/${tag}`, chain)
    afterwards.push(() => this.retryPending(tag, distributionId))
  }

  /**
   * A group text decrypted under `sender`'s chain `distributionId`: stored in the group's
   * conversation when the chain is that sender's for this group and the sender a member.
   * Returns the stored message, `undefined` for one seen before.
   */
  async receiveText(
    w: ClientWriter,
    /** A group text, or an attachment's (its caption as the text). */
    payload: { id: Bytes; sentAt: number; group: Bytes; text: string },
    distributionId: Bytes,
    sender: GroupSender,
    route: 'direct' | 'mailbox',
    now: number,
  ): Promise<StoredMessage | undefined> {
    const groupId = encodeGroupId(payload.group)
    const tag = deviceTag({ account: sender.account, deviceId: sender.deviceId })
    if (this.senders.get(`${toHex(distributionId)}/${tag}`)?.groupId !== groupId) {
      throw new MalformedError('a group text under a chain its sender gave for another group')
    }
    const held = this.held.get(groupId)
    // Its state has not come yet (it came later in the same fetch, or is on its way): the
    // text waits, undone, and is tried again when the state is taken.
    if (!held) throw new NoSenderKeyError('the group of this message is not known here yet')
    if (!groupMember(held.chain.head, sender.accountKey)) {
      throw new MalformedError('a group text from an account that is not a member')
    }
    const message: StoredMessage = {
      id: toHex(payload.id),
      contactId: groupId,
      direction: sender.own ? 'out' : 'in',
      sender: { account: sender.account, deviceId: sender.deviceId },
      text: payload.text,
      sentAt: payload.sentAt,
      receivedAt: now,
      state: sender.own ? 'sent' : 'delivered',
      read: sender.own,
      ...(sender.own ? {} : { route }),
      notified: route === 'direct' || sender.own,
    }
    return (await w.insertMessage(message)) ? message : undefined
  }

  /** A member asks for the states after `have`: answered from the chain, 16 at a time. */
  async receiveSyncRequest(group: Bytes, have: number, sender: GroupSender): Promise<void> {
    const held = this.held.get(encodeGroupId(group))
    if (!held || !groupMember(held.chain.head, sender.accountKey)) return
    const states = held.chain.after(have).slice(0, MAX_GROUP_STATES)
    if (states.length === 0) return
    await this.ctx.outbox.enqueueControl(
      { kind: 'group-states', group, states: states.map((s) => s.bytes) },
      [{ account: sender.account, deviceId: sender.deviceId }],
    )
  }

  private async requestStates(groupId: string, have: number, from: GroupSender): Promise<void> {
    await this.ctx.outbox.enqueueControl(
      { kind: 'group-sync-request', group: parseGroupId(groupId), have },
      [{ account: from.account, deviceId: from.deviceId }],
    )
  }

  /**
   * Waiting messages whose chain is here: tried again at every mailbox fetch (one left
   * waiting because its sender's device could not be checked then, the DHT not answering).
   */
  async retryKnown(): Promise<void> {
    for (const key of [...this.senders.keys()]) {
      const [distributionId, tag] = key.split('/') as [string, string]
      await this.retryPending(tag, distributionId)
    }
  }

  /**
   * The group mailboxes to read now: those of the chains with a seed, of groups this account
   * is in, whose sending account is still a member; each from the day of its last complete
   * read (or of its key) to today. A chain its device replaced is read for
   * {@link RETIRED_CHAIN_READ_MS} after the newer one's key, then no more.
   */
  groupMailboxes(now: number): GroupMailboxToRead[] {
    // The newest chain's key time of each device, per group.
    const newest = new Map<string, number>()
    for (const [key, chain] of this.senders) {
      const device = `${chain.groupId}/${key.slice(key.indexOf('/') + 1)}`
      newest.set(device, Math.max(newest.get(device) ?? 0, chain.since ?? 0))
    }
    const out: GroupMailboxToRead[] = []
    for (const [key, chain] of this.senders) {
      if (!chain.seed) continue
      const held = this.held.get(chain.groupId)
      const [distributionId, sender] = key.split('/') as [string, string]
      const account = sender.slice(0, sender.lastIndexOf('.'))
      if (!held?.row.member || !this.hasMember(chain.groupId, account)) continue
      const replaced = newest.get(`${chain.groupId}/${sender}`)!
      if ((chain.since ?? 0) < replaced && (chain.readAt ?? 0) >= replaced + RETIRED_CHAIN_READ_MS)
        continue
      out.push({
        distributionId,
        sender,
        groupId: chain.groupId,
        seed: chain.seed,
        days: groupMailboxDays(chain.readAt ?? now, now),
      })
    }
    return out
  }

  /** Notes that a chain's group mailbox was read through at `at` (every envelope taken). */
  async groupMailboxRead(box: GroupMailboxToRead, at: number): Promise<void> {
    const chain = this.senders.get(`${box.distributionId}/${box.sender}`)
    if (!chain) return
    chain.readAt = at
    await this.ctx.repository.transaction((w) =>
      w.setGroupSenderRead(box.distributionId, box.sender, at),
    )
  }

  /** Waiting messages of every chain of a group (its state just arrived). */
  private async retryGroup(groupId: string): Promise<void> {
    for (const [key, chain] of this.senders) {
      if (chain.groupId !== groupId) continue
      const [distributionId, tag] = key.split('/') as [string, string]
      await this.retryPending(tag, distributionId)
    }
  }

  private async retryPending(tag: string, distributionId: string): Promise<void> {
    const waiting = await this.ctx.repository.pendingGroupMessages(tag, distributionId)
    for (const p of waiting) await this.ctx.inbox.retryPending(p)
  }

  // ------------------------------------------------------------------ helpers

  private get(groupId: string): HeldGroup {
    const held = this.held.get(groupId.trim().toLowerCase())
    if (!held) throw new NotFoundError(`no group ${groupId}`)
    return held
  }

  private sign(body: GroupStateBody): GroupState {
    const { ctx } = this
    return signGroupState(ctx.identity, body, {
      account: ctx.account.publicKey,
      deviceId: ctx.account.deviceId,
    })
  }

  /** The signer's device is active in its account's list (device 1: its key is the account's). */
  private deviceOk(state: GroupState): boolean {
    const { account, deviceId, deviceKey } = state.signer
    const name = signalAddressOfKey(account).name
    return this.ctx.devices.status(name, account, deviceId, deviceKey) === 'active'
  }

  private rememberMembers(state: GroupState): void {
    for (const m of state.members) {
      this.memberKeys.set(signalAddressOfKey(m.account).name, m.account)
    }
  }

  /** The keys of contacts to make members; each must run a Passage that speaks groups. */
  private async contactKeys(members: ContactId[]): Promise<Bytes[]> {
    const { ctx } = this
    const out: Bytes[] = []
    for (const m of members) {
      const key = await ctx.contacts.key(m)
      if (!key) throw new NotFoundError(`${m} is not a contact; add it first`)
      if (!ctx.devices.published(m)) await ctx.devices.refresh(m, key, true)
      const features = ctx.devices.listOf(m, key)?.features ?? 0
      if (!ctx.devices.published(m) || (features & DeviceFeature.groups) === 0) {
        throw new UnsupportedError(
          `${m} runs a Passage without groups (or its device list could not be read): it cannot be a member yet`,
        )
      }
      out.push(key)
    }
    return out
  }

  private memberAccount(groupId: string, member: ContactId): string {
    const head = this.get(groupId).chain.head
    const found = head.members.find((m) => signalAddressOfKey(m.account).name === member)
    if (!found) throw new NotFoundError(`${member} is not a member of ${groupId}`)
    return member
  }

  private async persist(groupId: string, held: HeldGroup, states: GroupState[]): Promise<void> {
    const head = held.chain.head
    held.row = {
      ...held.row,
      revision: head.revision,
      member: groupMember(head, this.ctx.account.publicKey) !== undefined,
    }
    await this.ctx.repository.transaction(async (w) => {
      await w.saveGroupStates(
        groupId,
        states.map((s) => ({ revision: s.revision, bytes: s.bytes })),
      )
      await w.saveGroup(held.row)
    })
    this.rememberMembers(head)
  }
}
