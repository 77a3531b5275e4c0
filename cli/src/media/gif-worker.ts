// The worker thread of `GifDecoder`: says it is ready once loaded, then decodes one GIF per
// message and posts the frames back (their buffers transferred, not copied), or the
// `GifError`'s code and message.
import { parentPort } from 'node:worker_threads'
import { decodeGif, type DecodeOptions } from './gif-decode.js'
import { GifError } from './gif-error.js'

const port = parentPort!
port.on('message', ({ bytes, limits }: { bytes: Uint8Array; limits: DecodeOptions['limits'] }) => {
  try {
    const gif = decodeGif(bytes, { limits })
    port.postMessage(
      { gif },
      gif.frames.map((f) => f.rgba.buffer as ArrayBuffer),
    )
  } catch (error) {
    const e = error instanceof GifError ? error : new GifError('malformed', String(error))
    port.postMessage({ error: { code: e.code, message: e.message } })
  }
})
port.postMessage({ ready: true })
