// The public API of @passage/sdk: an explicit list, nothing else is exported.
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
export { type Clock, systemClock, ManualClock } from './clock.js'
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
export { Identity, isValidSignature, verifySignature, idMatchesKey } from './identity/identity.js'
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
export { type ClientStore, type StoredIdentity } from './store/client-store.js'
export { type ClientDatabase, CLIENT_MIGRATIONS } from './store/client-migrations.js'
export { CLIENT_DB_FILE, openClientStore, SqliteClientStore } from './store/sqlite-client-store.js'
