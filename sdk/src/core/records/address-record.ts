import type { Verifier } from '../crypto/key-provider.js'
import { MalformedError } from '../errors.js'
import type { Identity } from '../identity/identity.js'
import { BinaryReader, BinaryWriter } from '../wire/binary.js'
import { fromUtf8, utf8, type Bytes } from '../wire/bytes.js'
import { MAX_HOST_BYTES } from './announce.js'
import { RecordType, signRecord, verifyRecord, type SignedRecord } from './signed-record.js'

/**
 * How long an address record is served after it was signed: addresses change with networks
 * (a laptop moves, a NAT forgets), so a record lives 15 minutes and its owner republishes it
 * every few minutes while online.
 */
export const ADDRESS_RECORD_MAX_AGE_MS = 15 * 60_000
/** At most this many addresses in one record. */
export const MAX_RECORD_ADDRESSES = 8

/**
 * One way to reach a peer: `tcp` is its own link listener; `relay` is a super-node's relay
 * where it is registered (dial it and ask to connect to the peer's ID).
 */
export interface DialAddress {
  transport: 'tcp' | 'relay'
  host: string
  port: number
}

const CODES = { tcp: 1, relay: 3 } as const

/**
 * Payload of an address record (type 4): `u8 count (1 to 8)`, then per address
 * `u8 transport (1 tcp, 3 relay) | u8 hostLength | host (UTF-8, 1 to 253 bytes) | u16 port`.
 */
export function encodeAddressPayload(addresses: DialAddress[]): Bytes {
  checkAddresses(addresses)
  const w = new BinaryWriter().u8(addresses.length)
  for (const a of addresses) w.u8(CODES[a.transport]).bytes8(utf8(a.host), 'host').u16(a.port)
  return w.finish()
}

export function decodeAddressPayload(payload: Uint8Array): DialAddress[] {
  const reader = new BinaryReader(payload)
  const count = reader.u8('address count')
  const addresses: DialAddress[] = []
  for (let i = 0; i < count; i++) {
    const code = reader.u8('transport')
    const transport = code === 1 ? 'tcp' : code === 3 ? 'relay' : undefined
    if (!transport) throw new MalformedError(`unknown transport ${code} in an address record`)
    const host = fromUtf8(reader.bytes8('host'), 'host')
    addresses.push({ transport, host, port: reader.u16('port') })
  }
  reader.end('address record')
  checkAddresses(addresses)
  return addresses
}

function checkAddresses(addresses: DialAddress[]): void {
  if (addresses.length < 1 || addresses.length > MAX_RECORD_ADDRESSES) {
    throw new MalformedError(`an address record carries 1 to ${MAX_RECORD_ADDRESSES} addresses`)
  }
  for (const { transport, host, port } of addresses) {
    if (!(transport in CODES)) throw new MalformedError(`unknown transport ${transport}`)
    const bytes = utf8(host).byteLength
    if (bytes < 1 || bytes > MAX_HOST_BYTES || /[\s/]/.test(host)) {
      throw new MalformedError(
        `host must be 1 to ${MAX_HOST_BYTES} bytes, got ${JSON.stringify(host)}`,
      )
    }
    if (!Number.isInteger(port) || port < 1 || port > 65_535) {
      throw new MalformedError(`port must be 1 to 65535, got ${port}`)
    }
  }
}

/** Signs the address record of `identity` (seq: grows with every record, e.g. the time). */
export function createAddressRecord(
  identity: Identity,
  fields: { addresses: DialAddress[]; seq: number; timestamp: number },
): SignedRecord {
  return signRecord(identity, {
    type: RecordType.address,
    seq: fields.seq,
    timestamp: fields.timestamp,
    payload: encodeAddressPayload(fields.addresses),
  })
}

/**
 * The addresses of a verified, fresh address record of `publicKey`; throws
 * {@link MalformedError} (wrong type or signer, bad payload) or `BadSignatureError`.
 */
export function readAddressRecord(
  record: SignedRecord,
  publicKey: Uint8Array,
  verifier: Verifier,
): DialAddress[] {
  if (record.type !== RecordType.address) throw new MalformedError('not an address record')
  if (
    record.publicKey.byteLength !== publicKey.byteLength ||
    !record.publicKey.every((b, i) => b === publicKey[i])
  ) {
    throw new MalformedError('the address record is signed by another key')
  }
  verifyRecord(record, verifier)
  return decodeAddressPayload(record.payload)
}
