import { MAX_ANNOUNCE_ADDRESSES } from '@passage/sdk'
import { errorBodySchema } from '../plugins/errors.js'

// JSON schemas shared by the routes. Inline objects (no $ref) so that each route's schema
// is complete on its own, for validation, serialization and the OpenAPI document alike.
// Detailed checks (ID checksum, base64url, key and signature lengths, host syntax) are the
// SDK's, which gives clearer messages; the schema bounds shapes, types and sizes.

/** Longest text ID accepted before parsing (40 characters, plus room for dashes/spaces). */
const MAX_TEXT_ID_CHARS = 64
/** Base64url of a 64-byte signature is 86 characters; allow some slack, refuse megabytes. */
const MAX_BASE64_CHARS = 128

export const textIdSchema = {
  type: 'string',
  minLength: 1,
  maxLength: MAX_TEXT_ID_CHARS,
  description: 'A Passage ID in text form: `p1…`, 40 characters, checksummed.',
} as const

const addressSchema = {
  type: 'object',
  properties: {
    transport: { type: 'string', enum: ['tcp', 'udp'] },
    host: {
      type: 'string',
      maxLength: 253,
      description: 'IP address or DNS name; empty: the address this request came from.',
    },
    port: { type: 'integer', minimum: 1, maximum: 65535 },
  },
  required: ['transport', 'host', 'port'],
  additionalProperties: false,
} as const

const signedFields = {
  id: textIdSchema,
  publicKey: {
    type: 'string',
    minLength: 1,
    maxLength: MAX_BASE64_CHARS,
    description: 'The 33-byte public key, base64url without padding.',
  },
  seq: {
    type: 'integer',
    minimum: 0,
    maximum: Number.MAX_SAFE_INTEGER,
    description: 'Grows with every announce of this ID.',
  },
  timestamp: {
    type: 'integer',
    minimum: 0,
    maximum: Number.MAX_SAFE_INTEGER,
    description: 'Milliseconds since the epoch; within ±60 s of the server clock.',
  },
  audience: { ...textIdSchema, description: 'The ID of the server this announce is for.' },
  addresses: {
    type: 'array',
    minItems: 1,
    maxItems: MAX_ANNOUNCE_ADDRESSES,
    items: addressSchema,
  },
  signature: {
    type: 'string',
    minLength: 1,
    maxLength: MAX_BASE64_CHARS,
    description: 'XEdDSA signature over the signed record, base64url without padding.',
  },
} as const

const signedRequired = [
  'id',
  'publicKey',
  'seq',
  'timestamp',
  'audience',
  'addresses',
  'signature',
] as const

/** `POST /v1/announce`'s body: an AnnounceJson. */
export const announceBodySchema = {
  type: 'object',
  description: 'A signed announce (AnnounceJson, see docs/PROTOCOL.md).',
  properties: signedFields,
  required: signedRequired,
  additionalProperties: false,
} as const

export const observedSchema = {
  type: 'object',
  description: 'The address this server saw the announce come from.',
  properties: { host: { type: 'string' }, port: { type: 'integer' } },
  required: ['host', 'port'],
} as const

/** A live peer: the signed announce, untouched, plus what the server observed. */
export const peerSchema = {
  type: 'object',
  description:
    'A live peer: the signed announce exactly as sent (verify it with verifyAnnounce), the ' +
    'address it came from, and when it expires. An empty `host` means `observed.host`.',
  properties: {
    ...signedFields,
    observed: observedSchema,
    expiresAt: { type: 'integer', description: 'Milliseconds since the epoch.' },
  },
  required: [...signedRequired, 'observed', 'expiresAt'],
} as const

export const peerListSchema = {
  type: 'array',
  items: peerSchema,
} as const

/** Response entries for every refusal a route can answer. */
export function refusals(...statuses: number[]): Record<string, typeof errorBodySchema> {
  return Object.fromEntries(statuses.map((status) => [String(status), errorBodySchema]))
}
