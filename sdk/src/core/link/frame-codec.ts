import { MalformedError, TooLargeError } from '../errors.js'
import type { Bytes } from '../wire/bytes.js'

/** Bytes of the length prefix in front of every frame. */
export const FRAME_HEADER_BYTES = 4
/**
 * Largest frame body accepted or sent: 256 KiB. Signal messages are a few KB and attachments
 * travel in chunks, so anything larger is a bug or an attack, and a receiver never buffers more.
 */
export const MAX_FRAME_BYTES = 256 * 1024 // 256 KiB

/** A frame on the wire: `u32 length` (big-endian, 1 to {@link MAX_FRAME_BYTES}) then the body. */
export function encodeFrame(body: Uint8Array): Bytes {
  if (body.byteLength === 0) throw new MalformedError('a frame body is at least 1 byte')
  if (body.byteLength > MAX_FRAME_BYTES) {
    throw new TooLargeError(
      `a frame is at most ${MAX_FRAME_BYTES} bytes, this one ${body.byteLength}`,
    )
  }
  const out = new Uint8Array(FRAME_HEADER_BYTES + body.byteLength)
  new DataView(out.buffer).setUint32(0, body.byteLength)
  out.set(body, FRAME_HEADER_BYTES)
  return out
}

/**
 * Splits a byte stream into frame bodies. Pure: feed it chunks as they arrive with
 * {@link FrameDecoder.push}. It throws {@link TooLargeError} as soon as a length prefix
 * announces more than {@link MAX_FRAME_BYTES} (before buffering the body) and
 * {@link MalformedError} for a zero length; after a throw the stream is unusable.
 */
export class FrameDecoder {
  private chunks: Uint8Array[] = []
  private buffered = 0
  private failed = false

  constructor(private readonly maxFrameBytes = MAX_FRAME_BYTES) {}

  /** Bytes received but not yet returned as a frame (a truncated frame at close). */
  get pendingBytes(): number {
    return this.buffered
  }

  /**
   * Hands back the bytes held that are not a whole frame, and forgets them: for a stream whose
   * framed part ended (a relay's `ok`) and whose rest is someone else's.
   */
  takeRest(): Bytes {
    const rest = concat(this.chunks, this.buffered) as Bytes
    this.chunks = []
    this.buffered = 0
    return rest
  }

  /** Adds a chunk; returns every frame body it completes, in order. */
  push(chunk: Uint8Array): Bytes[] {
    if (this.failed) throw new MalformedError('the frame stream already failed')
    if (chunk.byteLength > 0) {
      this.chunks.push(chunk)
      this.buffered += chunk.byteLength
    }
    const frames: Bytes[] = []
    for (;;) {
      if (this.buffered < FRAME_HEADER_BYTES) break
      const header = this.peek(FRAME_HEADER_BYTES)
      const length = new DataView(header.buffer, header.byteOffset, 4).getUint32(0)
      if (length === 0) {
        this.failed = true
        throw new MalformedError('a frame of length 0')
      }
      if (length > this.maxFrameBytes) {
        this.failed = true
        throw new TooLargeError(
          `the peer announced a frame of ${length} bytes; at most ${this.maxFrameBytes} are accepted`,
        )
      }
      if (this.buffered < FRAME_HEADER_BYTES + length) break
      // A view into our own buffer (never handed out elsewhere): no copy.
      const all = this.take(FRAME_HEADER_BYTES + length)
      frames.push(all.subarray(FRAME_HEADER_BYTES) as Bytes)
    }
    return frames
  }

  private peek(n: number): Uint8Array {
    const first = this.chunks[0]!
    if (first.byteLength >= n) return first.subarray(0, n)
    this.chunks = [concat(this.chunks, this.buffered)]
    return this.chunks[0]!.subarray(0, n)
  }

  /**
   * The next `n` bytes: a view when the first chunk holds them, else a copy of just those
   * bytes (what follows stays in its chunks: joining everything buffered for each frame made
   * a burst of large frames cost quadratic copying).
   */
  private take(n: number): Uint8Array {
    this.buffered -= n
    const first = this.chunks[0]!
    if (first.byteLength >= n) {
      const rest = first.subarray(n)
      if (rest.byteLength > 0) this.chunks[0] = rest
      else this.chunks.shift()
      return first.subarray(0, n)
    }
    const out = new Uint8Array(n)
    let offset = 0
    while (offset < n) {
      const chunk = this.chunks[0]!
      const used = Math.min(chunk.byteLength, n - offset)
      out.set(chunk.subarray(0, used), offset)
      offset += used
      if (used === chunk.byteLength) this.chunks.shift()
      else this.chunks[0] = chunk.subarray(used)
    }
    return out
  }
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.byteLength
  }
  return out
}
