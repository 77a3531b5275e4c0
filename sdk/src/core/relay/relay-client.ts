import { MalformedError, TimeoutError, UnreachableError, WrongPeerError } from '../errors.js'
import type { Identity } from '../identity/identity.js'
import { encodeTextId } from '../identity/text-id.js'
import { FrameDecoder, encodeFrame } from '../link/frame-codec.js'
import type { ByteStream, StreamConnector } from '../net/ports.js'
import { systemTimers, type Timers } from '../runtime/timers.js'
import { equalBytes, toBytes, type Bytes } from '../wire/bytes.js'
import {
  MAX_RELAY_FRAME_BYTES,
  RELAY_REFUSAL_NAMES,
  RelayFrameType,
  decodeRelayFrame,
  encodeRelayRequest,
  relaySigningInput,
  type RelayRefusal,
  type RelayRequest,
} from './relay-messages.js'

/** Time a relay gets to connect, challenge and answer a request (each request). */
export const RELAY_HANDSHAKE_TIMEOUT_MS = 10_000 // as a link handshake

/** What a client asks a relay for. */
export type RelayAsk =
  | { type: 'register' }
  | { type: 'connect'; target: Uint8Array }
  | { type: 'accept'; token: Uint8Array }

export interface RelayHandshakeOptions {
  connect: StreamConnector
  host: string
  port: number
  identity: Identity
  ask: RelayAsk
  /** The relay's ID when known (the super-node's, from `/v1/info`): another one is refused. */
  relayId?: Uint8Array
  timers?: Timers
  timeoutMs?: number
}

/**
 * Connects to a relay, answers its challenge with the signed request and waits for `ok`.
 * Resolves with the stream after `ok`: for `connect` and `accept` it is the relayed byte
 * stream (run the link handshake on it); for `register`, the relay's `incoming` frames follow.
 * Rejects with {@link UnreachableError} (cannot connect, refused, closed),
 * {@link TimeoutError}, {@link WrongPeerError} (another relay ID) or {@link MalformedError}.
 */
export async function relayHandshake(options: RelayHandshakeOptions): Promise<ByteStream> {
  const where = `the relay at ${options.host}:${options.port}`
  let stream: ByteStream
  try {
    stream = await options.connect(options.host, options.port)
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    throw new UnreachableError(`cannot connect to ${where}: ${message}`, { cause: error })
  }
  const timers = options.timers ?? systemTimers
  const decoder = new FrameDecoder(MAX_RELAY_FRAME_BYTES)
  return new Promise<ByteStream>((resolve, reject) => {
    let state: 'challenge' | 'answer' | 'done' = 'challenge'
    const early: Bytes[] = []
    const fail = (error: Error) => {
      if (state === 'done') return
      state = 'done'
      timers.clearTimeout(timer)
      stream.destroy()
      reject(error)
    }
    const timer = timers.setTimeout(
      () => fail(new TimeoutError(`${where} did not answer in time`)),
      options.timeoutMs ?? RELAY_HANDSHAKE_TIMEOUT_MS,
    )
    stream.onClose((error) =>
      fail(
        new UnreachableError(`${where} closed the connection${error ? `: ${error.message}` : ''}`),
      ),
    )
    stream.onData((chunk) => {
      if (state === 'done') {
        early.push(chunk) // relayed bytes that came with `ok`, until the tail takes over
        return
      }
      try {
        const bodies = decoder.push(chunk)
        for (let i = 0; i < bodies.length; i++) {
          const frame = decodeRelayFrame(bodies[i]!)
          if (state === 'challenge') {
            if (frame.type !== RelayFrameType.challenge) {
              throw new MalformedError('the relay must send its challenge first')
            }
            if (options.relayId && !equalBytes(frame.relayId, toBytes(options.relayId))) {
              throw new WrongPeerError(
                `${where} is ${encodeTextId(frame.relayId)}, not ${encodeTextId(toBytes(options.relayId))}`,
              )
            }
            const request = signRequest(options.identity, frame.relayId, frame.nonce, options.ask)
            stream.write(encodeFrame(encodeRelayRequest(request))).catch(() => {})
            state = 'answer'
          } else if (frame.type === RelayFrameType.refused) {
            const name = RELAY_REFUSAL_NAMES[frame.code as RelayRefusal] ?? `code ${frame.code}`
            throw new UnreachableError(`${where} refused (${name}): ${frame.reason}`)
          } else if (frame.type !== RelayFrameType.ok) {
            throw new MalformedError(`the relay answered with frame type ${frame.type}`)
          } else {
            state = 'done'
            timers.clearTimeout(timer)
            // The bytes after `ok` belong to what follows (the peer's hello, or incoming frames):
            // whole frames the decoder already split go back in their framing.
            // `early` stays the one list: chunks that come before the reader do go in it.
            const rest = bodies.slice(i + 1).map((body) => encodeFrame(body))
            if (decoder.pendingBytes > 0) rest.push(decoder.takeRest())
            early.unshift(...rest)
            resolve(tail(stream, early))
            return
          }
        }
      } catch (error) {
        fail(error instanceof Error ? error : new MalformedError(String(error)))
      }
    })
  })
}

function signRequest(
  identity: Identity,
  relayId: Bytes,
  nonce: Bytes,
  ask: RelayAsk,
): RelayRequest {
  const publicKey = identity.publicKey
  const head =
    ask.type === 'register'
      ? { type: RelayFrameType.register, publicKey }
      : ask.type === 'connect'
        ? { type: RelayFrameType.connect, publicKey, target: toBytes(ask.target) }
        : { type: RelayFrameType.accept, publicKey, token: toBytes(ask.token) }
  const signature = identity.sign(relaySigningInput(relayId, nonce, head))
  return { ...head, signature } as RelayRequest
}

/**
 * The stream after the relay handshake: the bytes that arrived with `ok` come first, then
 * the stream's own (its one data handler moves to whoever reads next).
 */
function tail(stream: ByteStream, pending: Bytes[]): ByteStream {
  return {
    remote: stream.remote,
    write: (bytes) => stream.write(bytes),
    ...(stream.writev ? { writev: (parts: Uint8Array[]) => stream.writev!(parts) } : {}),
    onData(handler) {
      for (const chunk of pending.splice(0)) if (chunk.byteLength > 0) handler(chunk)
      stream.onData(handler)
    },
    onClose: (handler) => stream.onClose(handler),
    pause: () => stream.pause(),
    resume: () => stream.resume(),
    end: () => stream.end(),
    destroy: () => stream.destroy(),
  }
}

/** A {@link StreamConnector} that reaches `target` through the relay it is given the address of. */
export function relayConnector(
  identity: Identity,
  target: Uint8Array,
  options: { connect: StreamConnector; relayId?: Uint8Array; timers?: Timers },
): StreamConnector {
  return (host, port) =>
    relayHandshake({
      connect: options.connect,
      host,
      port,
      identity,
      ask: { type: 'connect', target },
      ...(options.relayId ? { relayId: options.relayId } : {}),
      ...(options.timers ? { timers: options.timers } : {}),
    })
}
