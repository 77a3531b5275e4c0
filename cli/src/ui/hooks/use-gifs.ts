import { useEffect, useRef, useState } from 'react'
import {
  ExpiredError,
  TamperedError,
  UnreachableError,
  type ChatMessage,
  type PassageClient,
} from '@passage/sdk'
import { isGif } from '../../attachment-text.js'
import { GifDecoder } from '../../media/decode-isolated.js'
import type { DecodedGif } from '../../media/gif-decode.js'
import { GifError } from '../../media/gif-error.js'

/** GIFs of the conversation that are fetched and decoded: the newest ones. */
export const GIFS_KEPT = 12 // 12 × (≤ 300 frames × 128² × 4 B) worst case; most are far smaller

/** A GIF message on screen: its picture (or its still preview meanwhile) and what to say. */
export interface GifState {
  gif?: DecodedGif
  /** The sender's still preview, decoded, while the GIF itself is not. */
  still?: DecodedGif
  /** Words after the placeholder: `downloading 40%`, why it cannot be shown. */
  status?: string
}

/**
 * The GIFs of a conversation, fetched (`client.attachments.fetch`: decrypted from the home,
 * or pulled from the sender or the DHT) one at a time, newest first, and decoded in a worker
 * (`GifDecoder`: bounded, a hostile GIF costs a refusal, never the screen). The sender's
 * preview shows as a still until then. Off (`enabled` false: no colour) nothing is fetched.
 */
export function useGifs(
  client: PassageClient,
  messages: ChatMessage[],
  enabled: boolean,
): ReadonlyMap<string, GifState> {
  const [states, setStates] = useState<ReadonlyMap<string, GifState>>(new Map())
  const started = useRef(new Set<string>())
  const decoder = useRef<GifDecoder | undefined>(undefined)
  const queue = useRef<Promise<void>>(Promise.resolve())
  const alive = useRef(true)

  useEffect(() => {
    alive.current = true
    return () => {
      alive.current = false
      void decoder.current?.close()
      decoder.current = undefined
    }
  }, [])

  useEffect(
    () =>
      client.on('attachment', (e) => {
        if (e.direction !== 'down' || !started.current.has(e.messageId) || e.total <= 0) return
        const percent = Math.min(100, Math.floor((e.done / e.total) * 100))
        update(e.messageId, { status: `downloading ${percent}%` })
      }),
    [client],
  )

  function update(id: string, change: GifState) {
    if (!alive.current) return
    setStates((all) => new Map(all).set(id, { ...all.get(id), ...change }))
  }

  useEffect(() => {
    if (!enabled) return
    const gifs = messages.filter((m) => m.attachment && isGif(m.attachment)).slice(-GIFS_KEPT)
    for (const message of gifs.reverse()) {
      const info = message.attachment!
      if (started.current.has(message.id) || info.state === 'uploading') continue
      started.current.add(message.id)
      decoder.current ??= new GifDecoder()
      const gifs = decoder.current
      if (info.preview) {
        gifs.decode(info.preview).then(
          (still) => update(message.id, { still }),
          () => {}, // a bad preview: the words stay until the GIF itself is there
        )
      }
      if (info.state === 'expired' || info.state === 'tampered' || info.state === 'failed') {
        update(message.id, { status: STATE_STATUS[info.state] })
        continue
      }
      queue.current = queue.current.then(async () => {
        if (!alive.current) return
        try {
          const bytes = await client.attachments.fetch(message.id)
          const gif = await gifs.decode(bytes)
          update(message.id, { gif, status: undefined })
        } catch (error) {
          update(message.id, { status: statusOf(error) })
        }
      })
    }
  }, [client, messages, enabled])

  return states
}

const STATE_STATUS = {
  expired: 'expired: ask them to send it again',
  tampered: 'refused: it was altered on the way',
  failed: 'failed to send',
} as const

function statusOf(error: unknown): string {
  if (error instanceof GifError) return `cannot be shown: ${error.message}`
  if (error instanceof ExpiredError) return STATE_STATUS.expired
  if (error instanceof TamperedError) return STATE_STATUS.tampered
  if (error instanceof UnreachableError) return 'not reachable now: its sender is offline'
  return `not fetched: ${error instanceof Error ? error.message : String(error)}`
}
