import { sha256 } from '@noble/hashes/sha2.js'
import type { Verifier } from '../crypto/key-provider.js'
import { BadSignatureError, KeyMismatchError, MalformedError } from '../errors.js'
import type { Identity } from '../identity/identity.js'
import { compareBytes, PUBLIC_KEY_BYTES } from '../identity/node-id.js'
import { checkDeviceId, PRIMARY_DEVICE_ID } from '../signal/signal-address.js'
import { BinaryReader, BinaryWriter } from '../wire/binary.js'
import { concatBytes, equalBytes, fromUtf8, toBytes, utf8, type Bytes } from '../wire/bytes.js'
import { GROUP_ID_BYTES } from './group-id.js'

/** Version byte of a group state (docs/PROTOCOL.md, "Groups"). */
export const GROUP_STATE_VERSION = 1
/** Members of one group at most (a state of 256 members is about 9 KB: it fits an envelope). */
export const MAX_GROUP_MEMBERS = 256
/** Longest group name, in UTF-8 bytes. */
export const MAX_GROUP_NAME_BYTES = 64
/** Bytes of a state's hash (and of `prevHash`). */
export const GROUP_HASH_BYTES = 32

const SIGNING_CONTEXT = utf8('passage/group-state/v1\0')
const HASH_CONTEXT = utf8('passage/group-state/hash/v1\0')
const SIGNATURE_BYTES = 64

/** What a member may do: the owner anything, admins add and remove members, members leave. */
export type GroupRole = 'owner' | 'admin' | 'member'
const ROLE_CODES: Record<GroupRole, number> = { owner: 1, admin: 2, member: 3 }
const ROLES_BY_CODE: readonly (GroupRole | undefined)[] = [undefined, 'owner', 'admin', 'member']

/** One member: an account (all its active devices take part) and its role. */
export interface GroupMember {
  /** The account key (33 bytes); the member's account ID is its hash. */
  account: Bytes
  role: GroupRole
}

/** Who signed a state: one device of an owner's or admin's account (or of a leaving member's). */
export interface GroupSigner {
  account: Bytes
  deviceId: number
  /** The device's key; device 1's is the account key. Checked against the account's device list. */
  deviceKey: Bytes
}

/** A group's membership at one revision, before it is signed. */
export interface GroupStateBody {
  groupId: Bytes
  /** 0 for the state that made the group; each change is the previous revision + 1. */
  revision: number
  /** The hash of the state at `revision - 1`; 32 zero bytes at revision 0. */
  prevHash: Bytes
  /** Grows by one with every change that removes a member (leaving included): senders rotate keys. */
  epoch: number
  /** When the signer made it, ms since the epoch (informational: no rule depends on clocks). */
  changedAt: number
  name: string
  /** By account key, ascending, each once; exactly one owner. */
  members: GroupMember[]
}

/** A signed group state, as exchanged between members (never published in the DHT). */
export interface GroupState extends GroupStateBody {
  signer: GroupSigner
  signature: Bytes
  /** The encoded signed state, as on the wire. */
  bytes: Bytes
  /** `SHA-256("passage/group-state/hash/v1\0" ‖ bytes)`: what the next revision names, and the fork tiebreak. */
  hash: Bytes
}

/**
 * The body of a group state:
 *
 * ```
 * u8 version (1) | groupId16 | u32 revision | prevHash32 | u32 epoch | u64 changedAt
 * | bytes8 name | u16 count | count × { key33 account | u8 role (1 owner, 2 admin, 3 member) }
 * | key33 signerAccount | u8 signerDevice | key33 signerDeviceKey
 * ```
 *
 * then a 64-byte signature by the signer's device key over
 * `"passage/group-state/v1\0" ‖ body`.
 */
export function encodeGroupStateBody(body: GroupStateBody, signer: GroupSigner): Bytes {
  checkGroupStateBody(body)
  checkSigner(signer)
  const w = new BinaryWriter(64 + body.members.length * 34)
    .u8(GROUP_STATE_VERSION)
    .fixed(body.groupId, GROUP_ID_BYTES, 'group ID')
    .u32(body.revision)
    .fixed(body.prevHash, GROUP_HASH_BYTES, 'prevHash')
    .u32(body.epoch)
    .u64(body.changedAt)
    .bytes8(utf8(body.name), 'group name')
    .u16(body.members.length)
  for (const m of body.members) {
    w.fixed(m.account, PUBLIC_KEY_BYTES, 'member key').u8(ROLE_CODES[m.role])
  }
  return w
    .fixed(signer.account, PUBLIC_KEY_BYTES, 'signer account')
    .u8(signer.deviceId)
    .fixed(signer.deviceKey, PUBLIC_KEY_BYTES, 'signer device key')
    .finish()
}

/** What the signer signs: the context string, then the body. */
export function groupStateSigningInput(body: Uint8Array): Bytes {
  return concatBytes(SIGNING_CONTEXT, body)
}

/** A state's hash: what the next revision's `prevHash` is, and the fork tiebreak (lower wins). */
export function groupStateHash(bytes: Uint8Array): Bytes {
  return toBytes(sha256(concatBytes(HASH_CONTEXT, bytes)))
}

/**
 * Signs a state with a device of the signer's account (`device` is that device's identity;
 * `signer.deviceKey` must be its key). The members are sorted here.
 */
export function signGroupState(
  device: Identity,
  body: GroupStateBody,
  signer: Omit<GroupSigner, 'deviceKey'>,
): GroupState {
  const sorted = { ...body, members: sortMembers(body.members) }
  const full: GroupSigner = { ...signer, deviceKey: device.publicKey }
  const encoded = encodeGroupStateBody(sorted, full)
  const signature = device.sign(groupStateSigningInput(encoded))
  const bytes = concatBytes(encoded, signature)
  return { ...sorted, signer: full, signature, bytes, hash: groupStateHash(bytes) }
}

/**
 * Parses a signed state and checks its form and signature (not who may sign it: that is
 * {@link checkGroupTransition}'s, with the previous state). Throws {@link MalformedError}
 * or {@link BadSignatureError}.
 */
export function decodeGroupState(bytes: Uint8Array, verifier: Verifier): GroupState {
  const data = toBytes(bytes)
  const r = new BinaryReader(data)
  const version = r.u8('version')
  if (version !== GROUP_STATE_VERSION) {
    throw new MalformedError(`unknown group state version ${version}`)
  }
  const groupId = r.fixed(GROUP_ID_BYTES, 'group ID')
  const revision = r.u32('revision')
  const prevHash = r.fixed(GROUP_HASH_BYTES, 'prevHash')
  const epoch = r.u32('epoch')
  const changedAt = r.u64('changedAt')
  const name = fromUtf8(r.bytes8('group name'), 'group name')
  const count = r.u16('member count')
  const members: GroupMember[] = []
  for (let i = 0; i < count; i++) {
    const account = readKey(r, 'member key')
    const code = r.u8('role')
    const role = ROLES_BY_CODE[code]
    if (!role) throw new MalformedError(`unknown group role ${code}`)
    members.push({ account, role })
  }
  const signer: GroupSigner = {
    account: readKey(r, 'signer account'),
    deviceId: r.u8('signer device'),
    deviceKey: readKey(r, 'signer device key'),
  }
  const bodyLength = data.byteLength - r.remaining
  const signature = r.fixed(SIGNATURE_BYTES, 'signature')
  r.end('group state')
  const body: GroupStateBody = { groupId, revision, prevHash, epoch, changedAt, name, members }
  checkGroupStateBody(body)
  checkSigner(signer)
  for (let i = 1; i < members.length; i++) {
    if (compareBytes(members[i - 1]!.account, members[i]!.account) >= 0) {
      throw new MalformedError('group members must be sorted by key, each once')
    }
  }
  const input = groupStateSigningInput(data.subarray(0, bodyLength))
  if (!verifier.verify(signer.deviceKey, input, signature)) {
    throw new BadSignatureError('the group state is not signed by the device it names')
  }
  return { ...body, signer, signature, bytes: data, hash: groupStateHash(data) }
}

/** The member of `state` whose account key is `account`, if any. */
export function groupMember(state: GroupStateBody, account: Uint8Array): GroupMember | undefined {
  return state.members.find((m) => equalBytes(m.account, account))
}

/** Members sorted by account key (the order a state is encoded in). */
export function sortMembers(members: readonly GroupMember[]): GroupMember[] {
  return [...members].sort((a, b) => compareBytes(a.account, b.account))
}

function readKey(r: BinaryReader, what: string): Bytes {
  const key = r.fixed(PUBLIC_KEY_BYTES, what)
  if (key[0] !== 0x05) throw new MalformedError(`a ${what} must start with 0x05`)
  return key
}

function checkGroupStateBody(body: GroupStateBody): void {
  if (body.groupId.byteLength !== GROUP_ID_BYTES) {
    throw new MalformedError(`a group ID is ${GROUP_ID_BYTES} bytes`)
  }
  const nameBytes = utf8(body.name).byteLength
  if (nameBytes < 1 || nameBytes > MAX_GROUP_NAME_BYTES) {
    throw new MalformedError(`a group name is 1 to ${MAX_GROUP_NAME_BYTES} UTF-8 bytes`)
  }
  if (body.members.length < 1 || body.members.length > MAX_GROUP_MEMBERS) {
    throw new MalformedError(`a group has 1 to ${MAX_GROUP_MEMBERS} members`)
  }
  if (body.members.filter((m) => m.role === 'owner').length !== 1) {
    throw new MalformedError('a group has exactly one owner')
  }
  const zero = body.prevHash.every((b) => b === 0)
  if ((body.revision === 0) !== zero) {
    throw new MalformedError('revision 0, and only it, has a zero prevHash')
  }
  if (body.revision === 0 && body.epoch !== 0) {
    throw new MalformedError('a group starts at epoch 0')
  }
}

function checkSigner(signer: GroupSigner): void {
  checkDeviceId(signer.deviceId)
  if ((signer.deviceId === PRIMARY_DEVICE_ID) !== equalBytes(signer.account, signer.deviceKey)) {
    throw new KeyMismatchError('device 1, and only it, signs with the account key')
  }
}
