/**
 * Every failure the SDK reports is a {@link PassageError} with a stable `code`.
 * Codes never change meaning; the server maps them to HTTP statuses in one place
 * (server/src/plugins/errors.ts) and the DHT maps them to wire error numbers in one place.
 */
export class PassageError extends Error {
  /** A stable, machine-readable code such as `PASSAGE_ERR_BAD_SIGNATURE`. */
  readonly code: string

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

function defineError(code: string, defaultMessage: string) {
  return class extends PassageError {
    static readonly code = code
    constructor(message: string = defaultMessage, options?: { cause?: unknown }) {
      super(code, message, options)
    }
  }
}

/** Bytes or text that do not decode: wrong length, wrong version, truncated, bad field. */
export class MalformedError extends defineError('PASSAGE_ERR_MALFORMED', 'malformed input') {}
/** A text ID whose checksum does not match: a typo. */
export class BadChecksumError extends defineError(
  'PASSAGE_ERR_BAD_CHECKSUM',
  'the ID has a typo: its checksum does not match',
) {}
/** A signature that does not verify with the claimed key. */
export class BadSignatureError extends defineError(
  'PASSAGE_ERR_BAD_SIGNATURE',
  'the signature does not verify with the claimed public key',
) {}
/** The claimed ID is not the hash of the claimed public key. */
export class KeyMismatchError extends defineError(
  'PASSAGE_ERR_KEY_MISMATCH',
  'the ID is not the hash of the public key',
) {}
/** A timestamp outside the accepted clock-skew window. */
export class ClockSkewError extends defineError(
  'PASSAGE_ERR_CLOCK_SKEW',
  'the timestamp is outside the accepted clock-skew window; check the clock',
) {}
/** A request or record seen before, or a sequence number that did not grow. */
export class ReplayError extends defineError(
  'PASSAGE_ERR_REPLAY',
  'replayed: the sequence number must grow with every new record',
) {}
/** A signed request or record addressed to another node. */
export class WrongAudienceError extends defineError(
  'PASSAGE_ERR_WRONG_AUDIENCE',
  'this announce was signed for another server',
) {}
/** Too many requests from one source. */
export class RateLimitedError extends defineError(
  'PASSAGE_ERR_RATE_LIMITED',
  'too many requests; slow down and retry later',
) {}
/** No record for the requested key. */
export class NotFoundError extends defineError('PASSAGE_ERR_NOT_FOUND', 'not found') {}
/** The remote side answered something this version does not understand, or nothing at all. */
export class RemoteError extends defineError('PASSAGE_ERR_REMOTE', 'the remote side failed') {}
/** A request that got no answer in time. */
export class TimeoutError extends defineError('PASSAGE_ERR_TIMEOUT', 'the request timed out') {}
/** Something already exists and would be overwritten. */
export class AlreadyExistsError extends defineError(
  'PASSAGE_ERR_EXISTS',
  'it already exists; pass --force to replace it',
) {}
/** A body larger than the receiver accepts (the bootstrap API's limit is 16 KiB). */
export class TooLargeError extends defineError(
  'PASSAGE_ERR_TOO_LARGE',
  'the request body is larger than the server accepts',
) {}
/** The remote side is up but cannot serve now (for example its storage is down); retry later. */
export class UnavailableError extends defineError(
  'PASSAGE_ERR_UNAVAILABLE',
  'the service is temporarily unavailable; retry later',
) {}
/** There is no identity yet where one was expected (a fresh home folder). */
export class NoIdentityError extends defineError(
  'PASSAGE_ERR_NO_IDENTITY',
  'there is no identity here yet; run `passage init` to create one',
) {}
/**
 * A home folder this process may not read or write (another user's, or its mode forbids
 * it). Not {@link NoIdentityError}: the identity may well be there, and "run init" would
 * invite replacing it.
 */
export class HomeUnreadableError extends defineError(
  'PASSAGE_ERR_HOME_UNREADABLE',
  'the home folder cannot be read by this user; check its owner and mode',
) {}
/**
 * A {@link RateLimitedError} that says how long to wait before retrying (the server's
 * `Retry-After`), in milliseconds; `undefined` when the server did not say. Catch
 * `RateLimitedError` to handle every rate-limit refusal.
 */
export class RetryAfterError extends RateLimitedError {
  readonly retryAfterMs: number | undefined

  constructor(retryAfterMs: number | undefined, message?: string, options?: { cause?: unknown }) {
    super(message, options)
    this.retryAfterMs = retryAfterMs
  }
}
/** A DHT write without a valid round-trip token for the writer's address: ask for one first. */
export class BadTokenError extends defineError(
  'PASSAGE_ERR_BAD_TOKEN',
  'the write token is missing, stale or for another address; look the key up again',
) {}
/** The recipient's mailbox on this node holds as many messages or bytes as it may. */
export class MailboxFullError extends defineError(
  'PASSAGE_ERR_MAILBOX_FULL',
  'the mailbox is full: the recipient must fetch and delete messages first',
) {}
/** The sender's address stores as much on this node as it may. */
export class QuotaExceededError extends defineError(
  'PASSAGE_ERR_QUOTA_EXCEEDED',
  'this source stores as much on the node as it may; retry later',
) {}
/** A message that does not authenticate: altered in transit, or not made for this recipient. */
export class TamperedError extends defineError(
  'PASSAGE_ERR_TAMPERED',
  'the message does not authenticate: it was altered or is not for us',
) {}
/** An attachment whose copy in the DHT expired before it was fetched: ask its sender to resend it. */
export class ExpiredError extends defineError(
  'PASSAGE_ERR_EXPIRED',
  'the attachment expired in the DHT before it was fetched; ask the sender to send it again (attachments.requestResend)',
) {}
/**
 * A message that claims a sender it was not made by: its Signal session or identity key is not
 * the claimed sender's. Flag it to the user; never show it as coming from the claimed sender.
 */
export class ImpersonationError extends defineError(
  'PASSAGE_ERR_IMPERSONATION',
  'the message claims a sender that did not make it',
) {}
/**
 * A known contact (address) now presents a different identity key. Nothing from or to it is
 * accepted until the user accepts the new key (`SignalSession.acceptIdentityChange`).
 */
export class IdentityChangedError extends defineError(
  'PASSAGE_ERR_IDENTITY_CHANGED',
  "the contact's identity key changed; verify it and accept the new key first",
) {
  /** The address (`textId.device`) whose key changed, and the new key (33 bytes) when known. */
  address: string | undefined
  newPublicKey: Uint8Array | undefined
}
/** A change this account may not make (a group change beyond its role). */
export class NotAllowedError extends defineError(
  'PASSAGE_ERR_NOT_ALLOWED',
  'this account may not make that change',
) {}
/** A group message whose sender key (its chain's distribution message) has not arrived yet. */
export class NoSenderKeyError extends defineError(
  'PASSAGE_ERR_NO_SENDER_KEY',
  'the sender key of this group message has not arrived yet',
) {}
/** No Signal session with that address, and no pre-key bundle to start one. */
export class NoSessionError extends defineError(
  'PASSAGE_ERR_NO_SESSION',
  'there is no session with this address yet; fetch its pre-key bundle first',
) {}
/** A first (pre-key) message naming a pre-key this device does not hold (any more). */
export class UnknownPreKeyError extends defineError(
  'PASSAGE_ERR_UNKNOWN_PRE_KEY',
  'the message uses a pre-key this device does not hold; the sender must fetch a fresh bundle',
) {}
/** No direct link to the peer could be made (refused, unreachable, backing off): use the mailbox. */
export class UnreachableError extends defineError(
  'PASSAGE_ERR_UNREACHABLE',
  'the peer cannot be reached directly now; deliver through its mailbox',
) {}
/** The node at the dialed address proved a different identity than the one we meant to reach. */
export class WrongPeerError extends defineError(
  'PASSAGE_ERR_WRONG_PEER',
  'the peer at that address is not the identity we dialed',
) {}
/** The direct link is closed: nothing more can be sent on it. */
export class LinkClosedError extends defineError('PASSAGE_ERR_LINK_CLOSED', 'the link is closed') {}
/**
 * Something claims a device its account revoked (or never listed): a revoked device gets
 * nothing new, and nothing it sends is accepted.
 */
export class RevokedDeviceError extends defineError(
  'PASSAGE_ERR_REVOKED_DEVICE',
  'the device is revoked (or not listed) by its account',
) {}
/** This home is a new device that waits to be linked to an account: it cannot chat yet. */
export class NotLinkedError extends defineError(
  'PASSAGE_ERR_NOT_LINKED',
  'this device is not linked to an account yet; approve it from your first device',
) {}
/**
 * Only the device holding the account key (device 1, or a home restored with the recovery
 * code) can change the device list: link, revoke or rename a device.
 */
export class NotAccountDeviceError extends defineError(
  'PASSAGE_ERR_NOT_ACCOUNT_DEVICE',
  'only the device that holds the account key (device 1) can change the device list',
) {}
/** The peer runs a version that cannot do what was asked (a contact without device lists). */
export class UnsupportedError extends defineError(
  'PASSAGE_ERR_UNSUPPORTED',
  'the peer’s version of Passage cannot do this',
) {}
