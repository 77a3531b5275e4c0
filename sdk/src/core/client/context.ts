import type { KeyProvider } from '../crypto/key-provider.js'
import type { Identity } from '../identity/identity.js'
import type { Clock } from '../runtime/clock.js'
import type { Random } from '../runtime/host.js'
import type { Timers } from '../runtime/timers.js'
import type { SignalSession } from '../signal/signal-session.js'
import type { NodeId } from '../identity/node-id.js'
import type { Bytes } from '../wire/bytes.js'
import type { Attachments } from './attachments.js'
import type { ContactDirectory } from './contacts.js'
import type { RequestList } from './requests.js'
import type { DeviceLinking } from './device-linking.js'
import type { DeviceDirectory } from './devices.js'
import type { GroupDirectory } from './groups.js'
import type { DirectProtocol } from './direct-protocol.js'
import type { ClientEventBus } from './events.js'
import type { History } from './history.js'
import type { Inbox } from './inbox.js'
import type { LinkAddresses } from './link-addresses.js'
import type { ClientNetwork } from './network.js'
import type { Outbox } from './outbox.js'
import type { ClientPorts, ClientRepository } from './ports.js'
import type { Presence } from './presence.js'
import type { Receipts } from './receipts.js'
import type { SuperNodes } from './super-nodes.js'
import type { ClientOptions } from './types.js'

/**
 * Fault injection for crash tests: each hook runs at its point and may throw, which aborts
 * the operation there as a crash would (what was committed stays committed).
 * @internal
 */
export interface ClientFaults {
  /** After the `index`-th fetched envelope was stored (its transaction committed). */
  afterEnvelopeStored?: (index: number) => void
  /** After the mailbox was fetched and its envelopes stored, before they are deleted from the DHT. */
  beforeMailboxDelete?: () => void
  /** An outgoing message is in the outbox as plaintext, before it is sealed. */
  beforeSeal?: () => void
  /** After an outgoing message was sealed and saved in the outbox, before any network I/O. */
  beforeDeliver?: () => void
  /** After a link or the DHT took a message, before it leaves the outbox. */
  afterDeliver?: () => void
  /**
   * A link this client dialed completed its handshake, before the link manager takes it: a
   * slow dial (the peer's own dial to us can win the race meanwhile).
   */
  afterLinkDialed?: (peerId: Bytes) => Promise<void>
  /** A direct message was stored, before its "stored" answer goes out; a throw loses the answer. */
  beforeDirectAck?: () => void
  /**
   * The features the account's first device list announces instead of this version's: a
   * device of an older version (one before group mailboxes, say), for compatibility tests.
   */
  features?: number
}

/** Extra collaborators; tests inject timers and faults. */
export interface ClientInternals {
  timers?: Timers
  faults?: ClientFaults
}

/** The account this device belongs to, and which device it is (it changes once when a new device is linked). */
export interface AccountState {
  /** The account key (33 bytes); a new device's own key while it waits to be linked. */
  publicKey: Bytes
  id: NodeId
  /** The account's text ID: the ID contacts know. */
  textId: string
  /** 1 holds the account key; 0 while waiting to be linked. */
  deviceId: number
  /** The account's display name. */
  name: string | undefined
  /** True once this device learned that its account revoked it. */
  revoked: boolean
}

/**
 * What the parts of a client share: its identity, stores, runtime and one another (each part
 * reaches the others through here, at call time, so none needs building before another).
 * @internal
 */
export interface ClientContext {
  /** This device's identity (device 1: the account key). */
  readonly identity: Identity
  readonly account: AccountState
  readonly repository: ClientRepository
  readonly session: SignalSession
  readonly keys: KeyProvider
  readonly ports: ClientPorts
  readonly options: ClientOptions
  readonly clock: Clock
  readonly timers: Timers
  readonly random: Random
  readonly faults: ClientFaults
  readonly events: ClientEventBus
  readonly superNodes: SuperNodes
  readonly network: ClientNetwork
  readonly addresses: LinkAddresses
  readonly contacts: ContactDirectory
  readonly requests: RequestList
  readonly presence: Presence
  readonly direct: DirectProtocol
  readonly inbox: Inbox
  readonly outbox: Outbox
  readonly receipts: Receipts
  readonly history: History
  readonly devices: DeviceDirectory
  readonly groups: GroupDirectory
  readonly linking: DeviceLinking
  readonly attachments: Attachments
  /** True once `close()` began. */
  readonly closed: boolean
  /** Runs background work; a failure becomes an `error` event (unless closing). Never throws. */
  guard(what: string, fn: () => Promise<unknown>): Promise<void>
  /** Throws `NotLinkedError` while this device waits to be linked, `RevokedDeviceError` once revoked. */
  requireLinked(): void
  /** A new device was provisioned: it becomes `deviceId` of the account (home, session, parts). */
  becomeDevice(device: { accountKey: Bytes; deviceId: number; name?: string }): Promise<void>
}
