// The GIF decoder in its worker thread (what the chat screen and `passage send --gif` use),
// and the probe that reads what is sent along with a GIF.
import t from 'tap'
import { eventually } from '@passage/sdk/testing'
import { GifDecoder } from '../../src/media/decode-isolated.js'
import { decodeGif } from '../../src/media/gif-decode.js'
import { GifError } from '../../src/media/gif-error.js'
import { probeGif } from '../../src/media/gif-probe.js'
import { animation, makeGif, pixel } from '../helpers/gifs.js'

// One worker for the file: starting one from TypeScript source takes seconds under tap.
const decoder = new GifDecoder()
t.teardown(() => decoder.close())

t.test('the worker decodes the same frames as the decoder itself', async (t) => {
  const bytes = animation(40, 6, 5)
  const gif = await decoder.decode(bytes)
  const local = decodeGif(bytes)
  t.same(
    { ...gif, frames: gif.frames.map((f) => ({ ...f, rgba: Array.from(f.rgba) })) },
    { ...local, frames: local.frames.map((f) => ({ ...f, rgba: Array.from(f.rgba) })) },
  )
})

t.test('a refusal in the worker comes back as the same GifError', async (t) => {
  const bytes = animation(4, 2)
  bytes[6] = 0xff
  bytes[7] = 0xff
  const error = await decoder.decode(bytes).then(
    () => undefined,
    (e: unknown) => e,
  )
  t.ok(error instanceof GifError)
  t.match(error, { code: 'too-large', message: /65535×4 pixels/ })
  await t.rejects(decoder.decode(new TextEncoder().encode('hello, not a gif')), {
    code: 'not-gif',
  })
})

t.test('a decode that overruns is stopped: the worker ends, too-slow', async (t) => {
  let fire: (() => void) | undefined
  const stopping = new GifDecoder({
    setTimer: (fn) => {
      fire = fn
      return () => {}
    },
  })
  t.teardown(() => stopping.close())
  const decoding = stopping.decode(animation(64, 50))
  // Once the worker has the GIF, the stop comes due before it has answered.
  await eventually(() => fire !== undefined)
  fire!()
  await t.rejects(decoding, { name: 'GifError', code: 'too-slow', message: /took over 3000 ms/ })
  // The stopped worker is replaced for the next GIF.
  fire = undefined
  const next = stopping.decode(animation(4, 2))
  await eventually(() => fire !== undefined)
  t.equal((await next).frames.length, 2)
})

t.test('probe: size, frames, length, and a still preview that is itself a small GIF', async (t) => {
  const bytes = makeGif(200, 100, [
    { width: 200, height: 100, pixels: 0, delayCs: 7 },
    { width: 200, height: 100, pixels: 2, delayCs: 5 },
  ])
  const probe = await probeGif(bytes, decoder)
  t.same(
    {
      width: probe.width,
      height: probe.height,
      frames: probe.frames,
      durationMs: probe.durationMs,
    },
    { width: 200, height: 100, frames: 2, durationMs: 120 },
  )
  t.ok(probe.preview.length < 2048, `preview ${probe.preview.length} bytes`)
  const still = decodeGif(probe.preview)
  t.same([still.width, still.height, still.frames.length], [32, 16, 1])
  t.same(pixel(still.frames[0]!.rgba, 32, 10, 10), [255, 0, 0, 255], 'the first frame: red')
})
