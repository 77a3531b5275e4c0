// BinaryWriter: big-endian fields into one growing buffer, reusable with reset().
import t from 'tap'
import { MalformedError } from '../src/core/errors.js'
import { BinaryReader, BinaryWriter } from '../src/core/wire/binary.js'

const filler = (n: number, byte: number) => new Uint8Array(n).fill(byte)

function writeAll(w: BinaryWriter): Uint8Array {
  return w
    .u8(0xab)
    .u16(0x1234)
    .u32(0xdeadbeef)
    .u64(2 ** 40 + 7)
    .fixed(filler(3, 1), 3)
    .bytes8(filler(2, 2))
    .bytes16(filler(300, 3))
    .bytes32(filler(5, 4))
    .raw(filler(4, 5))
    .finish()
}

t.test('every field lands at its offset, whether or not the buffer grows on the way', async (t) => {
  const roomy = writeAll(new BinaryWriter(4096))
  t.equal(roomy.byteLength, 1 + 2 + 4 + 8 + 3 + (1 + 2) + (2 + 300) + (4 + 5) + 4)
  for (const capacity of [1, 2, 3, 7, 16, 100]) {
    t.same(writeAll(new BinaryWriter(capacity)), roomy, `starting from ${capacity} bytes`)
  }
  const r = new BinaryReader(roomy)
  t.equal(r.u8('a'), 0xab)
  t.equal(r.u16('b'), 0x1234)
  t.equal(r.u32('c'), 0xdeadbeef)
  t.equal(r.u64('d'), 2 ** 40 + 7)
})

t.test('reset() reuses the buffer; a finished result is a copy', async (t) => {
  const w = new BinaryWriter(8)
  const first = w.u32(1).finish()
  const second = w.reset().u32(2).finish()
  t.same([...first], [0, 0, 0, 1], 'the first result is not overwritten by later writes')
  t.same([...second], [0, 0, 0, 2])
  t.equal(w.length, 4)
})

t.test('out-of-range values and wrong lengths are refused', async (t) => {
  const w = new BinaryWriter()
  t.throws(() => w.u8(256), MalformedError)
  t.throws(() => w.u16(-1), MalformedError)
  t.throws(() => w.u64(Number.MAX_SAFE_INTEGER + 1), MalformedError)
  t.throws(() => w.fixed(filler(2, 0), 3, 'nonce'), /nonce must be 3 bytes/)
  t.throws(() => w.bytes8(filler(256, 0), 'name'), /name is longer than 255 bytes/)
})
