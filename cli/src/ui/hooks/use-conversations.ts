import { useCallback, useEffect, useRef, useState } from 'react'
import type { ChatRequest, Conversation, PassageClient } from '@passage/sdk'

/** How often the contact list is re-read from the home. */
const CONVERSATIONS_REFRESH_MS = 2_000 // 2 s: another process may add a contact or a message

/**
 * The contact list of the chat screen: conversations (contacts and groups) and contact
 * requests, reloaded when messages, requests or links change.
 */
export function useConversations(
  client: PassageClient,
  onError: (error: unknown) => void,
  refreshMs: number = CONVERSATIONS_REFRESH_MS,
): {
  conversations: Conversation[]
  requests: ChatRequest[]
  loaded: boolean
  reload: () => void
} {
  const [lists, setLists] = useState<{ conversations: Conversation[]; requests: ChatRequest[] }>({
    conversations: [],
    requests: [],
  })
  const [loaded, setLoaded] = useState(false)
  const generation = useRef(0)
  const alive = useRef(true)

  const reload = useCallback(() => {
    // Only the newest request's answer is applied: answers can come back out of order.
    const mine = ++generation.current
    Promise.all([client.conversations(), client.requests.list()]).then(
      ([conversations, requests]) => {
        if (!alive.current || mine !== generation.current) return
        setLists({ conversations, requests })
        setLoaded(true)
      },
      (error: unknown) => alive.current && onError(error),
    )
  }, [client, onError])

  useEffect(() => {
    alive.current = true
    reload()
    const offs = [
      client.on('message', reload),
      client.on('request', reload),
      client.on('delivery', reload),
      client.on('status', reload),
    ]
    const timer = setInterval(reload, refreshMs)
    timer.unref?.()
    return () => {
      alive.current = false
      clearInterval(timer)
      for (const off of offs) off()
    }
  }, [client, reload, refreshMs])

  return { ...lists, loaded, reload }
}
