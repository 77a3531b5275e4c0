// The portable protocol core of @passage/sdk, its public API: an explicit list, nothing else
// is exported. Over 500 lines because it is that list, grouped by module.
export {
  PassageError,
  MalformedError,
  BadChecksumError,
  BadSignatureError,
  KeyMismatchError,
  ClockSkewError,
  ReplayError,
  WrongAudienceError,
  RateLimitedError,
  NotFoundError,
  RemoteError,
  TimeoutError,
  AlreadyExistsError,
} from './errors.js'
export { type Clock, systemClock, ManualClock } from './runtime/clock.js'
export {
  type AbortSignalLike,
  type Fetch,
  type FetchRequest,
  type FetchResponse,
  type Random,
  type UrlLike,
  systemRandom,
} from './runtime/host.js'
export {
  type Bytes,
  toBytes,
  concatBytes,
  equalBytes,
  toHex,
  fromHex,
  toBase64Url,
  fromBase64Url,
  utf8,
  fromUtf8,
} from './wire/bytes.js'
export { BinaryReader, BinaryWriter } from './wire/binary.js'
export {
  type NodeId,
  NODE_ID_BYTES,
  PUBLIC_KEY_BYTES,
  SIGNATURE_BYTES,
  nodeIdFromPublicKey,
  xorDistance,
  compareBytes,
  compareDistance,
  nodeIdToHex,
} from './identity/node-id.js'
export {
  TEXT_ID_PREFIX,
  TEXT_ID_LENGTH,
  encodeTextId,
  parseTextId,
  isTextId,
} from './identity/text-id.js'
export { Identity, idMatchesKey } from './identity/identity.js'
export type { KeyProvider, SecretKey, Verifier } from './crypto/key-provider.js'
export { type ContactCard, encodeContactUri, parseContactUri } from './identity/contact-uri.js'
export {
  RECORD_VERSION,
  RECORD_SIGNING_DOMAIN,
  MAX_RECORD_PAYLOAD_BYTES,
  RecordType,
  type UnsignedRecord,
  type SignedRecord,
  encodeRecordBody,
  recordSigningInput,
  signRecord,
  verifyRecord,
  recordSignerId,
  encodeSignedRecord,
  decodeSignedRecord,
} from './records/signed-record.js'
export {
  ANNOUNCE_SKEW_MS,
  MAX_ANNOUNCE_ADDRESSES,
  type Transport,
  type PeerAddress,
  type Announce,
  type AnnounceJson,
  encodeAnnouncePayload,
  decodeAnnouncePayload,
  announceToRecord,
  createAnnounce,
  announceToJson,
  announceFromJson,
  verifyAnnounce,
} from './records/announce.js'
export { TooLargeError, UnavailableError, NoIdentityError, RetryAfterError } from './errors.js'
export {
  BOOTSTRAP_TIMEOUT_MS,
  MAX_PEERS_LIMIT,
  BootstrapClient,
  type BootstrapClientOptions,
  type RequestOptions,
  type BootstrapInfo,
  type BootstrapPeer,
  type ObservedAddress,
  type AnnounceResult,
  type HealthStatus,
  type ReadyStatus,
} from './bootstrap/bootstrap-client.js'
// DHT and mailboxes (issue 3)
export {
  DHT_MAGIC,
  DHT_VERSION,
  MAX_DATAGRAM_BYTES,
  FRAGMENT_BYTES,
  MAX_ENVELOPE_BYTES,
  MAX_PUT_MANY_ENVELOPES,
  MessageType,
  type PutManyEnvelope,
  type PutManyResult,
  type DhtMessage,
  type MessageBody,
  type MessageKind,
  type MessageHeader,
  type NodeAddress,
  type NodeInfo,
  type MailboxAuth,
  type DropReason,
  type DecodeResult,
  encodeMessage,
  decodeMessage,
  tryDecodeMessage,
} from './dht/messages.js'
export {
  mailboxKeyFor,
  envelopeIdOf,
  recordKeyFor,
  proofInput,
  mailboxAuthInput,
} from './dht/keys.js'
export { WIRE_ERRORS, wireErrorCode, errorFromWire } from './dht/wire-errors.js'
export {
  K,
  BUCKET_COUNT,
  RoutingTable,
  subnetOf,
  type Contact,
  type AddResult,
  type RoutingTableOptions,
} from './dht/routing-table.js'
export {
  ALPHA,
  DhtNode,
  REPLICA_REUSE_MS,
  type DhtNodeOptions,
  type DhtStats,
  type DhtMetrics,
  type DhtLogger,
  type LookupNode,
  type LookupResult,
  type PutEnvelopeResult,
  type EnvelopeToPut,
  type FetchedEnvelope,
  type FetchMailboxOptions,
} from './dht/dht-node.js'
export { type RecordStore, MemoryRecordStore } from './dht/record-store.js'
export {
  DHT_RECORD_RULES,
  RECORD_FUTURE_SKEW_MS,
  checkDhtRecord,
  isFreshRecord,
  type DhtRecordRule,
} from './dht/record-rules.js'
export type {
  DatagramSocket,
  DatagramSource,
  DatagramBind,
  MulticastBind,
  MulticastOptions,
  ByteStream,
  StreamListener,
  StreamConnector,
  StreamListen,
} from './net/ports.js'
export {
  DEFAULT_ENVELOPE_TTL_MS,
  MAX_ENVELOPE_TTL_MS,
  TOMBSTONE_TTL_MS,
  DEFAULT_MAILBOX_QUOTA,
  type MailboxStore,
  type MailboxQuota,
  type StoredEnvelope,
  type EnvelopeSummary,
  type PutOutcome,
} from './mailbox/mailbox-store.js'
export { MemoryMailboxStore } from './mailbox/memory-mailbox-store.js'
export { BadTokenError, MailboxFullError, QuotaExceededError } from './errors.js'
export {
  TamperedError,
  ImpersonationError,
  IdentityChangedError,
  NoSessionError,
  NoSenderKeyError,
  NotAllowedError,
  UnknownPreKeyError,
} from './errors.js'
export {
  SignalNamespace,
  type SignalStorage,
  type LiveValue,
  type LiveValueStorage,
  holdsLiveValues,
  MemorySignalStorage,
} from './signal/signal-storage.js'
export {
  MIN_DEVICE_ID,
  MAX_DEVICE_ID,
  PRIMARY_DEVICE_ID,
  type SignalAddress,
  signalAddress,
  signalAddressOfKey,
  addressKey,
  parseAddressKey,
  sameAddress,
} from './signal/signal-address.js'
export {
  type IdentityKeyPolicy,
  type IdentityRefusal,
  accountKeyPolicy,
  trustedIdentityKey,
  pendingIdentityKey,
  acceptIdentityChange,
  countOneTimePreKeys,
  unusedPreKeyIds,
  purgeUsedPreKeys,
} from './signal/signal-state.js'
export {
  KYBER_PUBLIC_KEY_BYTES,
  KYBER_HASH_BYTES,
  MAX_BUNDLE_ONE_TIME_PRE_KEYS,
  PRE_KEY_BUNDLE_FIXED_BYTES,
  DEFAULT_ONE_TIME_PRE_KEYS,
  type PublicOneTimePreKey,
  type PreKeyBundlePayload,
  type PreKeyBundle,
  encodePreKeyBundlePayload,
  decodePreKeyBundlePayload,
  encodePreKeyBundle,
  decodePreKeyBundle,
  verifyPreKeyBundle,
} from './signal/pre-key-bundle.js'
export {
  SignalMessageType,
  SEALED_VERSION,
  SEALED_CONTENT_VERSION,
  SEALED_CONTENT_VERSION_DEVICES,
  SEALED_INFO,
  HPKE_SUITE_X25519_SHA256_AES256GCM,
  SEALED_OVERHEAD_BYTES,
  SEALED_CONTENT_HEADER_BYTES,
  type SealedContent,
  encodeSealedContent,
  decodeSealedContent,
  sealMessage,
  openSealedMessage,
} from './signal/sealed-message.js'
export {
  USED_PRE_KEY_GRACE_MS,
  type SignalCiphertext,
  type OpenedMessage,
  type EncryptOptions,
  type DecryptOptions,
  type GeneratedPreKeys,
  type SignalSessionOptions,
  type SignalSession,
  type SignalProvider,
} from './signal/signal-session.js'
export { MAX_RESPONSE_BYTES } from './bootstrap/bootstrap-http.js'
// Super-node list (issue 5): GET /v1/nodes, record type 5
export {
  MAX_NODE_LIST_NODES,
  MAX_NODE_URL_BYTES,
  type NodeListEntry,
  type NodeList,
  type NodeListJson,
  encodeNodeListPayload,
  decodeNodeListPayload,
  nodeListPayloadBytes,
  nodeListToRecord,
  createNodeList,
  nodeListToJson,
  verifyNodeListRecord,
} from './records/node-list.js'
// Direct links over TCP and LAN discovery (issue 4)
export { UnreachableError, WrongPeerError, LinkClosedError } from './errors.js'
export { HomeUnreadableError } from './errors.js'
export { type Timers, type TimerHandle, systemTimers, ManualTimers } from './runtime/timers.js'
export { BoundedMap } from './util/bounded-map.js'
export {
  FRAME_HEADER_BYTES,
  MAX_FRAME_BYTES,
  encodeFrame,
  FrameDecoder,
} from './link/frame-codec.js'
export {
  LINK_VERSION,
  LINK_VERSION_DEVICES,
  LINK_SIGNING_DOMAIN,
  LINK_SIGNING_DOMAIN_DEVICES,
  LINK_NONCE_BYTES,
  LinkFrameType,
  LinkRole,
  type LinkAccount,
  type LinkHello,
  helloAccount,
  type LinkFrame,
  type LinkTranscript,
  encodeLinkHello,
  encodeLinkProof,
  encodeLinkData,
  decodeLinkFrame,
  linkSigningInput,
} from './link/link-messages.js'
export {
  MAX_LINK_PAYLOAD_BYTES,
  LinkProtocol,
  type LinkPeer,
  type LinkProtocolOptions,
  type LinkStep,
} from './link/link-protocol.js'
export {
  HANDSHAKE_TIMEOUT_MS,
  Link,
  dialLink,
  type LinkAddress,
  type LinkRoute,
  type DialLinkOptions,
  type HandshakeOptions,
} from './link/link.js'
export {
  LinkListener,
  type LinkListenerOptions,
  type LinkListenerStats,
} from './link/link-listener.js'
export {
  RECONNECT_INITIAL_MS,
  RECONNECT_MAX_MS,
  RECONNECT_JITTER,
  backoffDelay,
  type BackoffOptions,
} from './util/backoff.js'
export {
  DIRECT_BEFORE_RELAY_TIMEOUT_MS,
  LinkManager,
  type LinkManagerOptions,
  type PeerBackoff,
} from './link/link-manager.js'
// Address records (record type 4) and the relay through a super-node (issue 16)
export {
  ADDRESS_RECORD_MAX_AGE_MS,
  MAX_RECORD_ADDRESSES,
  type DialAddress,
  encodeAddressPayload,
  decodeAddressPayload,
  createAddressRecord,
  readAddressRecord,
} from './records/address-record.js'
export {
  RELAY_VERSION,
  RELAY_SIGNING_DOMAIN,
  RELAY_NONCE_BYTES,
  RELAY_TOKEN_BYTES,
  MAX_RELAY_FRAME_BYTES,
  RelayFrameType,
  RelayRefusal,
  RELAY_REFUSAL_NAMES,
  type RelayFrame,
  type RelayRequest,
  encodeRelayChallenge,
  encodeRelayRequest,
  encodeRelayOk,
  encodeRelayIncoming,
  encodeRelayRefused,
  decodeRelayFrame,
  relaySigningInput,
} from './relay/relay-messages.js'
export {
  RELAY_HANDSHAKE_TIMEOUT_MS,
  relayHandshake,
  relayConnector,
  type RelayAsk,
  type RelayHandshakeOptions,
} from './relay/relay-client.js'
export { RelayRegistration, type RelayRegistrationOptions } from './relay/relay-registration.js'
export {
  BEACON_MAGIC,
  BEACON_VERSION,
  BEACON_SIGNING_DOMAIN,
  BEACON_BODY_BYTES,
  BEACON_BYTES,
  BEACON_VERSION_DEVICES,
  BEACON_BODY_BYTES_DEVICES,
  BEACON_BYTES_DEVICES,
  type UnsignedBeacon,
  type Beacon,
  encodeBeaconBody,
  beaconSigningInput,
  signBeacon,
  encodeBeacon,
  decodeBeacon,
  verifyBeacon,
} from './discovery/beacon.js'
export {
  LAN_GROUP,
  LAN_PORT,
  BEACON_INTERVAL_MS,
  LAN_PEER_TTL_MS,
  BEACON_SKEW_MS,
  LanDiscovery,
  type DiscoveredPeer,
  type LanDiscoveryStats,
  type LanDiscoveryOptions,
} from './discovery/lan-discovery.js'
// end of issue 4 links/discovery
// The SDK client (issue 4): the one facade the CLI and bots use
export {
  type ContactId,
  type MessageId,
  type DeliveryState,
  type MessageDirection,
  type MessageRoute,
  type ChatContact,
  type ContactRoute,
  type ChatMessage,
  type AttachmentEvent,
  type AttachmentInfo,
  type AttachmentInput,
  type AttachmentManager,
  type AttachmentState,
  type Conversation,
  type HistoryOptions,
  type SignalOptions,
  type FlushOptions,
  type SendOptions,
  type DeliveryEvent,
  type RefusalReason,
  type RefusedEvent,
  type LanPeer,
  type LanOptions,
  type SuperNodeStatus,
  type ClientStatus,
  type ClientEvents,
  type ClientOptions,
  type ContactBook,
  type ChatRequest,
  type RequestBook,
  type BlockedAccount,
  type PassageClient,
  type MessageSender,
  type DeviceInfo,
  type GroupInfo,
  type GroupEvent,
  type GroupManager,
  type DeviceEvent,
  type DeviceManager,
  type LinkRequest,
} from './client/types.js'
export { DEFAULT_FETCH_INTERVAL_MS, createClient } from './client/create-client.js'
export { DIRECT_ACK_TIMEOUT_MS } from './client/direct-protocol.js'
export { cleanDisplayName } from './client/display-name.js'
export type { ClientFaults, ClientInternals } from './client/context.js'
export { DELIVERY_STATES } from './client/delivery-state.js'
export type {
  AttachmentDraft,
  ClientPorts,
  ClientRepository,
  ClientWriter,
  ContactRecord,
  StoredMessage,
  OutboxEntry,
  PendingReceipt,
  RefusalRecord,
  HomeIdentity,
  StoredDeviceList,
  Target,
} from './client/ports.js'
export {
  CHAT_PAYLOAD_VERSION,
  CHAT_PAYLOAD_VERSION_DEVICES,
  MESSAGE_ID_BYTES,
  MAX_TEXT_BYTES,
  MAX_RECEIPT_IDS,
  MAX_SYNC_CONTACTS,
  MAX_INTRO_NAME_BYTES,
  MAX_GROUP_STATES,
  PADDING_BUCKETS,
  ChatPayloadKind,
  ReceiptKind,
  type ChatPayload,
  type PayloadLists,
  type SyncedContact,
  encodeChatPayload,
  decodeChatPayload,
  paddedSize,
} from './client/chat-payload.js'
// Attachments (docs/PROTOCOL.md, "Attachments")
export { ExpiredError } from './errors.js'
export { type MediaCrypto } from './crypto/media-crypto.js'
export {
  MAX_ATTACHMENT_BYTES,
  ATTACHMENT_KEYS_BYTES,
  paddedAttachmentSize,
  attachmentCiphertextSize,
  checkAttachmentSize,
  encryptAttachment,
  decryptAttachment,
  verifyAttachment,
  type EncryptedAttachment,
} from './attachments/attachment-cipher.js'
export {
  ATTACHMENT_CHUNK_BYTES,
  MAX_PREVIEW_BYTES,
  MAX_CAPTION_BYTES,
  chunkCountOf,
  encodeAttachmentPointer,
  decodeAttachmentPointer,
  type AttachmentPointer,
} from './attachments/attachment-pointer.js'
export { chunkIdOf, chunkIdsOf, chunkOf } from './attachments/attachment-chunks.js'
export {
  DirectFrameType,
  type DirectFrame,
  encodeDirectFrame,
  decodeDirectFrame,
  directMessageId,
} from './client/direct-frame.js'
export {
  KyberKeyPartRecordType,
  KYBER_FIRST_PART_BYTES,
  LOW_ONE_TIME_PRE_KEYS,
  REPLENISH_ONE_TIME_PRE_KEYS,
  PreKeyDirectory,
} from './client/pre-key-directory.js'
// DHT key proofs by MAC (docs/PROTOCOL.md, "Key proofs by MAC")
export { PROOF_MAC_BYTES } from './dht/messages.js'
// The DHT amplification guard (docs/PROTOCOL.md, "DHT amplification guard")
export { UNPROVEN_PAD_BYTES } from './dht/messages.js'
export {
  ADDRESS_CHECK_EVERY_MS,
  DEFAULT_RATE_LIMIT,
  PEER_TOKEN_FRESH_MS,
  PROVEN_FOR_MS,
  type RateLimit,
} from './dht/dht-node.js'
export { proofKeyFromShared, proofMac } from './dht/keys.js'
// Multi-device accounts (docs/PROTOCOL.md, "Devices")
export {
  RevokedDeviceError,
  NotLinkedError,
  NotAccountDeviceError,
  UnsupportedError,
} from './errors.js'
export {
  DEVICE_LIST_VERSION,
  DeviceFeature,
  SUPPORTED_FEATURES,
  MAX_ACTIVE_DEVICES,
  MAX_LISTED_DEVICES,
  MAX_DEVICE_NAME_BYTES,
  type DeviceState,
  type DeviceEntry,
  type DeviceList,
  type DeviceListChange,
  implicitDeviceList,
  firstDeviceList,
  encodeDeviceListPayload,
  decodeDeviceListPayload,
  checkDeviceList,
  signDeviceList,
  verifyDeviceList,
  deviceEntry,
  deviceStatus,
  activeDevices,
  nextSeq,
  changeDeviceList,
} from './devices/device-list.js'
export {
  LINK_URI_SCHEME,
  type LinkRequestCard,
  encodeLinkUri,
  parseLinkUri,
  linkCode,
  formatLinkCode,
} from './devices/link-request.js'
export {
  RECOVERY_CODE_PREFIX,
  encodeRecoveryCode,
  parseRecoveryCode,
} from './devices/recovery-code.js'
export {
  PROVISIONING_VERSION,
  PROVISIONING_INFO,
  MAX_HISTORY_CHUNK_MESSAGES,
  type HistoryItem,
  type Provisioning,
  encodeProvisioning,
  decodeProvisioning,
  sealProvisioning,
  openProvisioning,
  isProvisioning,
} from './devices/provisioning.js'
export {
  GROUP_ID_BYTES,
  GROUP_ID_PREFIX,
  GROUP_ID_LENGTH,
  encodeGroupId,
  parseGroupId,
  isGroupId,
} from './groups/group-id.js'
export {
  GROUP_STATE_VERSION,
  MAX_GROUP_MEMBERS,
  MAX_GROUP_NAME_BYTES,
  GROUP_HASH_BYTES,
  type GroupRole,
  type GroupMember,
  type GroupSigner,
  type GroupStateBody,
  type GroupState,
  encodeGroupStateBody,
  groupStateSigningInput,
  groupStateHash,
  signGroupState,
  decodeGroupState,
  groupMember,
  sortMembers,
} from './groups/group-state.js'
export {
  type GroupRefusal,
  type TransitionCheck,
  type GroupDiff,
  type OfferOutcome,
  diffGroupStates,
  checkGroupGenesis,
  checkGroupTransition,
  GroupChain,
} from './groups/membership.js'
export {
  GROUP_MAILBOX_SEED_BYTES,
  GROUP_MAILBOX_DAY_MS,
  GROUP_MAILBOX_SKEW_MS,
  GROUP_MAILBOX_MAX_DAYS,
  groupMailboxDay,
  groupMailboxPrivateKey,
  groupMailboxIdentity,
  groupMailboxKey,
  groupMailboxDays,
} from './groups/group-mailbox.js'
