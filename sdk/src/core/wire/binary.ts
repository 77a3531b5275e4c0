import { MalformedError } from '../errors.js'
import type { Bytes } from './bytes.js'

/**
 * Big-endian writer for the fixed layouts in docs/PROTOCOL.md. Every integer is unsigned;
 * 64-bit values are JavaScript numbers within Number.MAX_SAFE_INTEGER. Writes into one
 * growing buffer; `finish()` returns a copy of the exact size, and `reset()` lets a hot path
 * (the DHT encoder, on every datagram) reuse the buffer.
 */
export class BinaryWriter {
  private buf: Uint8Array
  private view: DataView
  length = 0

  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity)
    this.view = new DataView(this.buf.buffer)
  }

  /** Empties the writer, keeping its buffer. */
  reset(): this {
    this.length = 0
    return this
  }

  /** Reserves `n` bytes and returns their offset. Call it before reading `buf` or `view`. */
  private room(n: number): number {
    const at = this.length
    if (at + n > this.buf.byteLength) {
      const bigger = new Uint8Array(Math.max(2 * this.buf.byteLength, at + n))
      bigger.set(this.buf.subarray(0, at))
      this.buf = bigger
      this.view = new DataView(bigger.buffer)
    }
    this.length = at + n
    return at
  }

  u8(value: number): this {
    checkUint(value, 0xff, 'u8')
    const at = this.room(1)
    this.buf[at] = value
    return this
  }

  u16(value: number): this {
    checkUint(value, 0xffff, 'u16')
    const at = this.room(2)
    this.view.setUint16(at, value)
    return this
  }

  u32(value: number): this {
    checkUint(value, 0xffffffff, 'u32')
    const at = this.room(4)
    this.view.setUint32(at, value)
    return this
  }

  u64(value: number): this {
    checkUint(value, Number.MAX_SAFE_INTEGER, 'u64')
    const at = this.room(8)
    this.view.setUint32(at, Math.floor(value / 0x1_0000_0000))
    this.view.setUint32(at + 4, value >>> 0)
    return this
  }

  /** Raw bytes of a length fixed by the layout. */
  fixed(bytes: Uint8Array, length: number, what = 'field'): this {
    if (bytes.byteLength !== length) {
      throw new MalformedError(`${what} must be ${length} bytes, got ${bytes.byteLength}`)
    }
    return this.raw(bytes)
  }

  /** Bytes prefixed by their length as a u8. */
  bytes8(bytes: Uint8Array, what = 'field'): this {
    if (bytes.byteLength > 0xff) throw new MalformedError(`${what} is longer than 255 bytes`)
    return this.u8(bytes.byteLength).raw(bytes)
  }

  /** Bytes prefixed by their length as a u16. */
  bytes16(bytes: Uint8Array, what = 'field'): this {
    if (bytes.byteLength > 0xffff) throw new MalformedError(`${what} is longer than 65535 bytes`)
    return this.u16(bytes.byteLength).raw(bytes)
  }

  /** Bytes prefixed by their length as a u32. */
  bytes32(bytes: Uint8Array): this {
    return this.u32(bytes.byteLength).raw(bytes)
  }

  raw(bytes: Uint8Array): this {
    const at = this.room(bytes.byteLength) // first: it may replace the buffer
    this.buf.set(bytes, at)
    return this
  }

  finish(): Bytes {
    return this.buf.slice(0, this.length) as Bytes
  }
}

function checkUint(value: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new MalformedError(`${what} out of range: ${value}`)
  }
}

/** Reader over untrusted bytes: every read is bounds-checked and throws {@link MalformedError}. */
export class BinaryReader {
  private offset = 0
  private readonly view: DataView

  constructor(private readonly buffer: Uint8Array) {
    this.view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength)
  }

  get position(): number {
    return this.offset
  }

  get remaining(): number {
    return this.buffer.byteLength - this.offset
  }

  private need(n: number, what: string): void {
    if (this.offset + n > this.buffer.byteLength) {
      throw new MalformedError(`truncated: ${what} needs ${n} more bytes`)
    }
  }

  u8(what = 'u8'): number {
    this.need(1, what)
    return this.view.getUint8(this.offset++)
  }

  u16(what = 'u16'): number {
    this.need(2, what)
    const value = this.view.getUint16(this.offset)
    this.offset += 2
    return value
  }

  u32(what = 'u32'): number {
    this.need(4, what)
    const value = this.view.getUint32(this.offset)
    this.offset += 4
    return value
  }

  u64(what = 'u64'): number {
    this.need(8, what)
    const value = this.view.getBigUint64(this.offset)
    this.offset += 8
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new MalformedError(`${what} is too large`)
    return Number(value)
  }

  fixed(length: number, what = 'field'): Bytes {
    const at = this.offset
    if (at + length > this.buffer.byteLength) this.need(length, what)
    const out = this.buffer.slice(at, at + length) as Bytes
    this.offset = at + length
    return out
  }

  bytes8(what = 'field'): Bytes {
    return this.fixed(this.u8(what), what)
  }

  bytes16(what = 'field'): Bytes {
    return this.fixed(this.u16(what), what)
  }

  bytes32(what = 'field'): Bytes {
    return this.fixed(this.u32(what), what)
  }

  /** Throws unless every byte was read: trailing garbage is malformed, not ignored. */
  end(what = 'message'): void {
    if (this.remaining !== 0)
      throw new MalformedError(`${what} has ${this.remaining} trailing bytes`)
  }

  /** Reads the rest, which must be zero bytes (padding); throws at a non-zero byte. */
  zeros(what = 'padding'): void {
    const b = this.buffer
    for (let i = this.offset; i < b.byteLength; i++) {
      if (b[i] !== 0) throw new MalformedError(`${what} has a non-zero byte at ${i}`)
    }
    this.offset = b.byteLength
  }
}
