import { PassageError } from '../errors.js'
import type { ChatMessage, ClientEvents, ClientStatus, SignalOptions } from './types.js'

type Handler = (payload: never) => void

/**
 * The client's events: handlers by name, errors wrapped in a {@link PassageError}, status
 * snapshots only when someone listens, and `messages()` as an async iterator.
 */
export class ClientEventBus {
  private readonly handlers = new Map<keyof ClientEvents, Set<Handler>>()
  private readonly iteratorEnders = new Set<() => void>()
  private closed = false

  /** @param status builds the status snapshot `status` events carry */
  constructor(private readonly status: () => ClientStatus) {}

  on<E extends keyof ClientEvents>(
    event: E,
    handler: (payload: ClientEvents[E]) => void,
  ): () => void {
    let set = this.handlers.get(event)
    if (!set) {
      set = new Set()
      this.handlers.set(event, set)
    }
    set.add(handler as Handler)
    return () => this.off(event, handler)
  }

  off<E extends keyof ClientEvents>(event: E, handler: (payload: ClientEvents[E]) => void): void {
    this.handlers.get(event)?.delete(handler as Handler)
  }

  emit<E extends keyof ClientEvents>(event: E, payload: ClientEvents[E]): void {
    for (const handler of [...(this.handlers.get(event) ?? [])]) {
      try {
        ;(handler as (p: ClientEvents[E]) => void)(payload)
      } catch (error) {
        if (event !== 'error') this.error(error, `a ${event} handler`)
      }
    }
  }

  /** Reports a background failure as an `error` event (a {@link PassageError}). */
  error(error: unknown, what: string): void {
    if (this.closed) return
    const wrapped =
      error instanceof PassageError
        ? error
        : new PassageError(
            'PASSAGE_ERR_CLIENT',
            `${what} failed: ${error instanceof Error ? error.message : String(error)}`,
            { cause: error },
          )
    this.emit('error', wrapped)
  }

  /** Emits a fresh status, only when someone listens (a snapshot per message adds up). */
  statusChanged(): void {
    if (!this.closed && (this.handlers.get('status')?.size ?? 0) > 0) {
      this.emit('status', this.status())
    }
  }

  /** The incoming messages from now on (see `PassageClient.messages`). */
  messages(options: SignalOptions = {}): AsyncIterableIterator<ChatMessage> {
    const buffer: ChatMessage[] = []
    let wake: (() => void) | undefined
    let done = this.closed || options.signal?.aborted === true
    const end = () => {
      done = true
      wake?.()
    }
    const unsubscribe = this.on('message', (m) => {
      buffer.push(m)
      wake?.()
    })
    this.iteratorEnders.add(end)
    options.signal?.addEventListener('abort', end, { once: true })
    const cleanup = () => {
      unsubscribe()
      this.iteratorEnders.delete(end)
      options.signal?.removeEventListener('abort', end)
    }
    const iterator: AsyncIterableIterator<ChatMessage> = {
      next: async () => {
        for (;;) {
          const message = buffer.shift()
          if (message) return { value: message, done: false }
          if (done) {
            cleanup()
            return { value: undefined, done: true }
          }
          await new Promise<void>((resolve) => (wake = resolve))
          wake = undefined
        }
      },
      return: () => {
        end()
        cleanup()
        return Promise.resolve({ value: undefined, done: true })
      },
      [Symbol.asyncIterator]() {
        return iterator
      },
    }
    return iterator
  }

  /** Drops every handler and ends every iterator. */
  close(): void {
    this.closed = true
    for (const handlers of this.handlers.values()) handlers.clear()
    this.iteratorEnders.forEach((end) => end())
  }
}
