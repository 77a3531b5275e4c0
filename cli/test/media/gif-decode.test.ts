// The GIF decoder (cli/src/media): compositing as browsers do it, and the limits that keep a
// hostile GIF from hanging or exhausting the terminal, checked before decoding.
import t from 'tap'
import { decodeGif } from '../../src/media/gif-decode.js'
import { GifError } from '../../src/media/gif-error.js'
import { readGifHeader, scanGif } from '../../src/media/gif-header.js'
import { animation, makeGif, pixel } from '../helpers/gifs.js'

const RED = [255, 0, 0, 255]
const GREEN = [0, 255, 0, 255]
const BLUE = [0, 0, 255, 255]
const CLEAR = [0, 0, 0, 0]

t.test('an animation: every frame, its delay, the total length', async (t) => {
  const gif = decodeGif(animation(8, 5, 20))
  t.equal(gif.width, 8)
  t.equal(gif.height, 8)
  t.equal(gif.frames.length, 5)
  t.same(
    gif.frames.map((f) => f.delayMs),
    [200, 200, 200, 200, 200],
  )
  t.equal(gif.durationMs, 1000)
  // frame i has pattern (x + y + i) % 8: pixel (0,0) is red, green, blue, white, black.
  t.same(
    gif.frames.map((f) => pixel(f.rgba, 8, 0, 0)),
    [RED, GREEN, BLUE, [255, 255, 255, 255], [0, 0, 0, 255]],
  )
})

t.test('a delay of 0 plays at 100 ms, as in browsers', async (t) => {
  t.equal(decodeGif(animation(4, 2, 0)).frames[0]!.delayMs, 100)
})

t.test('transparent pixels let the previous frame through (disposal 1: keep)', async (t) => {
  const gif = decodeGif(
    makeGif(4, 4, [
      { width: 4, height: 4, pixels: 0, disposal: 1 },
      // a 2×2 frame at (1,1): blue, with its top-left pixel transparent (index 7)
      { x: 1, y: 1, width: 2, height: 2, pixels: (x, y) => (x + y === 0 ? 7 : 2), transparent: 7 },
    ]),
  )
  const second = gif.frames[1]!.rgba
  t.same(pixel(second, 4, 0, 0), RED, 'outside the frame: the first frame')
  t.same(pixel(second, 4, 1, 1), RED, 'transparent pixel: the first frame')
  t.same(pixel(second, 4, 2, 2), BLUE, 'the second frame')
})

t.test(
  'disposal 2 clears the frame to transparent; disposal 3 restores what was under it',
  async (t) => {
    const gif = decodeGif(
      makeGif(4, 4, [
        { width: 4, height: 4, pixels: 0, disposal: 1 }, // red everywhere
        { x: 0, y: 0, width: 2, height: 2, pixels: 1, disposal: 3 }, // green square, then restore
        { x: 2, y: 2, width: 2, height: 2, pixels: 2, disposal: 2 }, // blue square, then clear
        { x: 0, y: 3, width: 1, height: 1, pixels: 3 }, // one white pixel
      ]),
    )
    const [, second, third, fourth] = gif.frames.map((f) => f.rgba)
    t.same(pixel(second!, 4, 0, 0), GREEN)
    t.same(pixel(third!, 4, 0, 0), RED, 'the green square was restored to red')
    t.same(pixel(third!, 4, 3, 3), BLUE)
    t.same(pixel(fourth!, 4, 3, 3), CLEAR, 'the blue square was cleared')
    t.same(pixel(fourth!, 4, 0, 0), RED)
    t.same(pixel(fourth!, 4, 0, 3), [255, 255, 255, 255])
  },
)

t.test('a frame reaching past the logical screen is drawn, cut at its edge', async (t) => {
  const bytes = makeGif(4, 4, [{ width: 4, height: 4, pixels: 0 }])
  // The same GIF, declaring a 2×2 logical screen: its 4×4 frame reaches past it.
  bytes[6] = 2
  bytes[8] = 2
  const gif = decodeGif(bytes)
  t.equal(gif.width, 2)
  t.equal(gif.frames[0]!.rgba.length, 2 * 2 * 4)
  t.same(pixel(gif.frames[0]!.rgba, 2, 1, 1), RED)
})

t.test('large GIFs are kept scaled down to keepSidePx a side, aspect kept', async (t) => {
  const gif = decodeGif(makeGif(400, 100, [{ width: 400, height: 100, pixels: 2 }]))
  t.equal(gif.width, 400)
  t.same([gif.frameWidth, gif.frameHeight], [128, 32])
  t.same(pixel(gif.frames[0]!.rgba, 128, 127, 31), BLUE)
})

t.test('a huge declared size is refused from the header alone, before decoding', async (t) => {
  const bytes = makeGif(4, 4, [{ width: 4, height: 4, pixels: 0 }])
  bytes[6] = 0xff
  bytes[7] = 0xff // 65535 wide
  const refused = (fn: () => unknown) =>
    t.throws(fn, { name: 'GifError', code: 'too-large', message: /65535×4 pixels/ })
  refused(() => decodeGif(bytes))
  // Only the 13 bytes of header and screen descriptor: nothing after them was read.
  refused(() => readGifHeader(bytes.subarray(0, 13)))
  refused(() => decodeGif(bytes.subarray(0, 13)))
})

t.test('a frame declaring a huge size is refused before its pixels are decoded', async (t) => {
  const bytes = makeGif(4, 4, [{ width: 4, height: 4, pixels: 0 }])
  const descriptor = bytes.indexOf(0x2c, 13 + 24)
  t.equal(bytes[descriptor + 5], 4, 'the frame width byte')
  bytes[descriptor + 5] = 0xff
  bytes[descriptor + 6] = 0xff
  t.throws(() => scanGif(bytes), {
    code: 'too-large',
    message: /a frame of the GIF reaches 65535×4/,
  })
  t.throws(() => decodeGif(bytes), { code: 'too-large' })
})

t.test('more frames than the limit: refused before decoding', async (t) => {
  const bytes = animation(2, 12)
  t.throws(() => decodeGif(bytes, { limits: { maxFrames: 10 } }), {
    code: 'too-many-frames',
    message: /more than 10 frames/,
  })
  t.equal(decodeGif(bytes, { limits: { maxFrames: 12 } }).frames.length, 12)
})

t.test('a file over the byte limit is refused', async (t) => {
  const bytes = animation(16, 4)
  t.throws(() => decodeGif(bytes, { limits: { maxBytes: 100 } }), {
    code: 'too-large',
    message: /MiB/,
  })
})

t.test('the time cap is checked between frames, on the clock handed in', async (t) => {
  let now = 0
  const clock = () => (now += 400) // each look at the clock: 400 ms later
  const error = t.throws(() =>
    decodeGif(animation(4, 20), { now: clock, limits: { timeCapMs: 1000 } }),
  )
  t.match(error, { code: 'too-slow', message: /took over 1000 ms to decode \(2 of 20 frames\)/ })
})

t.test('not a GIF, cut short, no frames: typed errors that say so', async (t) => {
  const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49])
  t.throws(() => decodeGif(png), { code: 'not-gif', message: /not a GIF/ })
  t.throws(() => decodeGif(new TextEncoder().encode('GIF89')), { code: 'not-gif' })
  const gif = animation(8, 2)
  const error = t.throws(() => decodeGif(gif.subarray(0, gif.length - 20)))
  t.ok(error instanceof GifError)
  t.equal((error as GifError).code, 'malformed')
  t.throws(() => decodeGif(gif.subarray(0, 13 + 24)), { code: 'malformed', message: /no frames/ })
})

t.test('a GIF without its trailer is shown (browsers forgive it)', async (t) => {
  const gif = animation(4, 2)
  t.equal(gif[gif.length - 1], 0x3b)
  t.equal(decodeGif(gif.subarray(0, gif.length - 1)).frames.length, 2)
})

t.test('an interlaced frame: its rows put back in order', async (t) => {
  // 1×10, rows 0..9 coloured by row; the interlaced file stores rows 0,8, 4, 2,6, 1,3,5,7,9.
  const order = [0, 8, 4, 2, 6, 1, 3, 5, 7, 9]
  const bytes = makeGif(1, 10, [{ width: 1, height: 10, pixels: (_x, y) => order[y]! % 8 }])
  const descriptor = bytes.indexOf(0x2c, 13 + 24)
  bytes[descriptor + 9] = bytes[descriptor + 9]! | 0x40 // the interlace flag
  const gif = decodeGif(bytes)
  for (let y = 0; y < 10; y++) {
    t.same(
      pixel(gif.frames[0]!.rgba, 1, 0, y),
      pixel(
        decodeGif(makeGif(1, 1, [{ width: 1, height: 1, pixels: y % 8 }])).frames[0]!.rgba,
        1,
        0,
        0,
      ),
      `row ${y}`,
    )
  }
})

t.test('an LZW code used before it is defined: malformed, not a hang', async (t) => {
  // Found by the fuzz test: omggif's decoder loops forever on this one (a cycle in its table).
  const bytes = animation(8, 3)
  bytes[0xa3] = 219
  bytes[0xb3] = 76
  t.throws(() => decodeGif(bytes), { code: 'malformed', message: /LZW code/ })
})
