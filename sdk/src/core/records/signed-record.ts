import { MalformedError } from '../errors.js'
import type { Verifier } from '../crypto/key-provider.js'
import type { Identity } from '../identity/identity.js'
import { nodeIdFromPublicKey, PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from '../identity/node-id.js'
import { BinaryReader, BinaryWriter } from '../wire/binary.js'
import { concatBytes, utf8, type Bytes } from '../wire/bytes.js'
import { BadSignatureError } from '../errors.js'

/** Version byte of the signed-record layout (docs/PROTOCOL.md, "Signed records"). */
export const RECORD_VERSION = 1
/** Signatures cover this prefix then the record bytes, so they cannot be reused elsewhere. */
export const RECORD_SIGNING_DOMAIN = utf8('passage/record/v1\0')
/** Largest payload a record may carry. */
export const MAX_RECORD_PAYLOAD_BYTES = 1024

/** Record types. New types take new numbers; numbers are never reused. */
export const RecordType = {
  announce: 1,
  preKeyBundle: 2,
  deviceList: 3,
  address: 4,
  nodeList: 5,
} as const
export type RecordType = (typeof RecordType)[keyof typeof RecordType]

/** The signed fields of a record, before the signature. */
export interface UnsignedRecord {
  type: number
  /** Serialized libsignal public key (33 bytes) of the signer. */
  publicKey: Bytes
  /** Must grow with every new record of the same signer and type. */
  seq: number
  /** Milliseconds since the Unix epoch when it was signed. */
  timestamp: number
  /** Type-specific canonical bytes. */
  payload: Bytes
}

export interface SignedRecord extends UnsignedRecord {
  signature: Bytes
}

/** The canonical bytes of a record's signed fields (everything but the signature). */
export function encodeRecordBody(record: UnsignedRecord): Bytes {
  if (record.payload.byteLength > MAX_RECORD_PAYLOAD_BYTES) {
    throw new MalformedError(`a record payload is at most ${MAX_RECORD_PAYLOAD_BYTES} bytes`)
  }
  return new BinaryWriter()
    .u8(RECORD_VERSION)
    .u8(record.type)
    .fixed(record.publicKey, PUBLIC_KEY_BYTES, 'publicKey')
    .u64(record.seq)
    .u64(record.timestamp)
    .bytes16(record.payload, 'payload')
    .finish()
}

/** What the signer signs: the domain prefix then the record body. */
export function recordSigningInput(record: UnsignedRecord): Bytes {
  return concatBytes(RECORD_SIGNING_DOMAIN, encodeRecordBody(record))
}

export function signRecord(
  identity: Identity,
  fields: Omit<UnsignedRecord, 'publicKey'>,
): SignedRecord {
  const unsigned: UnsignedRecord = { ...fields, publicKey: identity.publicKey }
  return { ...unsigned, signature: identity.sign(recordSigningInput(unsigned)) }
}

/** Throws {@link BadSignatureError} unless the record's signature verifies with its key. */
export function verifyRecord(record: SignedRecord, verifier: Verifier): void {
  if (!verifier.verify(record.publicKey, recordSigningInput(record), record.signature)) {
    throw new BadSignatureError()
  }
}

/** The ID of the record's signer. */
export function recordSignerId(record: UnsignedRecord): Bytes {
  return nodeIdFromPublicKey(record.publicKey)
}

/** The full wire form: body then the 64-byte signature. */
export function encodeSignedRecord(record: SignedRecord): Bytes {
  return new BinaryWriter()
    .raw(encodeRecordBody(record))
    .fixed(record.signature, SIGNATURE_BYTES, 'signature')
    .finish()
}

/** Parses the wire form; does not verify the signature (call {@link verifyRecord}). */
export function decodeSignedRecord(bytes: Uint8Array): SignedRecord {
  const reader = new BinaryReader(bytes)
  const version = reader.u8('version')
  if (version !== RECORD_VERSION) throw new MalformedError(`unknown record version ${version}`)
  const type = reader.u8('type')
  const publicKey = reader.fixed(PUBLIC_KEY_BYTES, 'publicKey')
  if (publicKey[0] !== 0x05) throw new MalformedError('publicKey must start with 0x05')
  const seq = reader.u64('seq')
  const timestamp = reader.u64('timestamp')
  const payload = reader.bytes16('payload')
  if (payload.byteLength > MAX_RECORD_PAYLOAD_BYTES) throw new MalformedError('payload too large')
  const signature = reader.fixed(SIGNATURE_BYTES, 'signature')
  reader.end('record')
  return { type, publicKey, seq, timestamp, payload, signature }
}
