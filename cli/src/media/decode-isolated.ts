import { Worker } from 'node:worker_threads'
import type { DecodedGif } from './gif-decode.js'
import { GifError, type GifErrorCode } from './gif-error.js'
import { GIF_LIMITS, type GifLimits } from './gif-limits.js'

/** Heap of the decoding worker: frames kept are at most 20 MB, a canvas 4 MiB (twice). */
const WORKER_HEAP_MB = 160
/** How long past the decoder's own time cap a decode may run before the worker is stopped. */
const WORKER_GRACE_MS = 1_000 // the decoder checks its cap between frames; one frame is < 50 ms

export interface IsolatedOptions {
  limits?: Partial<GifLimits>
  /** A timer for the hard stop (tests hand in their own); the global one by default. */
  setTimer?: (fn: () => void, ms: number) => () => void
}

type Reply = { ready?: true; gif?: DecodedGif; error?: { code: GifErrorCode; message: string } }

/**
 * `decodeGif` in a worker thread with a capped heap, one GIF at a time, the worker kept for
 * the next one. A decode that overruns its time cap is stopped by ending the worker (a new
 * one starts for the next GIF). Whatever happens inside (a hostile GIF, an exhausted heap, a
 * crash) comes back as a `GifError`; the chat screen never stalls on it. The worker does not
 * keep the process alive; `close()` ends it.
 */
export class GifDecoder {
  private worker: Worker | undefined
  private ready: Promise<Worker> | undefined
  private queue: Promise<unknown> = Promise.resolve()
  private readonly limits: GifLimits
  private readonly setTimer: NonNullable<IsolatedOptions['setTimer']>

  constructor(options: IsolatedOptions = {}) {
    this.limits = { ...GIF_LIMITS, ...options.limits }
    this.setTimer =
      options.setTimer ??
      ((fn, ms) => {
        const timer = setTimeout(fn, ms)
        timer.unref?.()
        return () => clearTimeout(timer)
      })
  }

  /** Decodes `bytes`, after any decode already asked for. */
  decode(bytes: Uint8Array): Promise<DecodedGif> {
    const run = this.queue.then(
      () => this.run(bytes),
      () => this.run(bytes),
    )
    this.queue = run.catch(() => {})
    return run
  }

  /** Ends the worker (a later `decode` starts another). */
  async close(): Promise<void> {
    const worker = this.worker
    this.worker = undefined
    this.ready = undefined
    if (worker) await worker.terminate()
  }

  private start(): Promise<Worker> {
    this.ready ??= new Promise<Worker>((resolve, reject) => {
      const worker = new Worker(new URL(workerFile(), import.meta.url), {
        resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB, maxYoungGenerationSizeMb: 16 },
        stdout: true, // nothing the worker prints reaches the screen
        stderr: true,
      })
      worker.unref()
      this.worker = worker
      worker.once('message', (m: Reply) => (m.ready ? resolve(worker) : undefined))
      worker.once('error', reject)
      worker.once('exit', () => {
        if (this.worker === worker) {
          this.worker = undefined
          this.ready = undefined
        }
        reject(new GifError('malformed', 'the GIF decoder did not start'))
      })
    })
    return this.ready
  }

  private async run(bytes: Uint8Array): Promise<DecodedGif> {
    const worker = await this.start()
    return new Promise<DecodedGif>((resolve, reject) => {
      let done = false
      const finish = (stop: boolean, fn: () => void) => {
        if (done) return
        done = true
        cancel()
        worker.off('message', onMessage)
        worker.off('error', onError)
        worker.off('exit', onExit)
        if (stop) void this.stop(worker)
        fn()
      }
      const onMessage = (m: Reply) =>
        finish(false, () =>
          m.gif ? resolve(m.gif) : reject(new GifError(m.error!.code, m.error!.message)),
        )
      const onError = (error: Error & { code?: string }) =>
        finish(true, () =>
          reject(
            error.code === 'ERR_WORKER_OUT_OF_MEMORY'
              ? new GifError('too-large', 'the GIF needs more memory than a picture in a chat may')
              : new GifError('malformed', `the GIF could not be decoded (${error.message})`),
          ),
        )
      const onExit = () =>
        finish(true, () => reject(new GifError('malformed', 'the GIF decoder stopped')))
      const cancel = this.setTimer(
        () =>
          finish(true, () =>
            reject(
              new GifError('too-slow', `the GIF took over ${this.limits.timeCapMs} ms to decode`),
            ),
          ),
        this.limits.timeCapMs + WORKER_GRACE_MS,
      )
      worker.on('message', onMessage)
      worker.on('error', onError)
      worker.on('exit', onExit)
      worker.postMessage({ bytes, limits: this.limits })
    })
  }

  private async stop(worker: Worker): Promise<void> {
    if (this.worker === worker) {
      this.worker = undefined
      this.ready = undefined
    }
    await worker.terminate()
  }
}

/** One GIF decoded in a worker of its own, ended after (for one-off uses: `passage send`). */
export async function decodeGifIsolated(
  bytes: Uint8Array,
  options: IsolatedOptions = {},
): Promise<DecodedGif> {
  const decoder = new GifDecoder(options)
  try {
    return await decoder.decode(bytes)
  } finally {
    await decoder.close()
  }
}

/** The worker's file beside this one: `.js` when built, `.ts` when run from source (tests). */
function workerFile(): string {
  return import.meta.url.endsWith('.ts') ? './gif-worker.ts' : './gif-worker.js'
}
