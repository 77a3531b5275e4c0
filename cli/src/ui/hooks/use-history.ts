import { useCallback, useEffect, useRef, useState } from 'react'
import type { ChatMessage, ContactId, DeliveryState, PassageClient } from '@passage/sdk'

/** How many messages of a conversation the screen loads from the home. */
export const HISTORY_LIMIT = 200 // a few screens of scrollback; older ones stay in SQLite

/** How often the open conversation is re-read from the home. */
export const HISTORY_REFRESH_MS = 2_000 // 2 s: another `passage` process on this home sends no event

const RANK: Record<DeliveryState, number> = {
  pending: 0,
  sent: 1,
  stored: 2,
  delivered: 3,
  read: 4,
}

/** The later of two states (states only move forward; events can overtake each other). */
function later(a: DeliveryState, b: DeliveryState | undefined): DeliveryState {
  return b !== undefined && RANK[b] > RANK[a] ? b : a
}

/**
 * The order of a conversation on screen: by the time each message was sent (the sender's
 * clock, as the history in the home), then by arrival, then by ID. Messages that waited in
 * an outbox (a super-node down, a contact offline) arrive late and in any order; they are
 * shown where they were written, not where they arrived.
 */
export function conversationOrder(a: ChatMessage, b: ChatMessage): number {
  return (
    a.sentAt - b.sentAt || a.receivedAt - b.receivedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  )
}

/**
 * `shown` with what `stored` (the history re-read from the home) adds or moves forward: new
 * messages, later delivery states, read flags. The same array when nothing changed (no
 * re-render).
 */
export function mergeHistory(shown: ChatMessage[], stored: ChatMessage[]): ChatMessage[] {
  const byId = new Map(shown.map((m, i) => [m.id, i] as const))
  let next: ChatMessage[] | undefined
  for (const message of stored) {
    const at = byId.get(message.id)
    if (at === undefined) {
      next ??= shown.slice()
      next.push(message)
      continue
    }
    const old = (next ?? shown)[at]!
    const state = later(old.state, message.state)
    const read = old.read || message.read
    if (state !== old.state || read !== old.read) {
      next ??= shown.slice()
      next[at] = { ...old, state, read }
    }
  }
  return next === undefined ? shown : next.sort(conversationOrder)
}

/**
 * The conversation with one contact: its history from the home (`client.history`), new
 * messages as they arrive (`message` events), delivery marks as they change (`delivery`
 * events). Incoming messages shown here are marked read (which sends a read receipt).
 */
export function useHistory(
  client: PassageClient,
  contactId: ContactId | undefined,
  onError: (error: unknown) => void,
  onRead: () => void = () => {},
  refreshMs: number = HISTORY_REFRESH_MS,
): { messages: ChatMessage[]; loaded: boolean; add: (message: ChatMessage) => void } {
  const [messages, setMessages] = useState<ChatMessage[]>([])
  const [loaded, setLoaded] = useState(false)
  // Delivery states seen before their message was in the list (a send still resolving).
  const early = useRef(new Map<string, DeliveryState>())

  // IDs in the list (or being sent from here), to tell our other devices' messages apart.
  const known = useRef(new Set<string>())
  useEffect(() => {
    known.current = new Set(messages.map((m) => m.id))
  }, [messages])

  const upsert = useCallback((message: ChatMessage) => {
    setMessages((previous) => {
      const state = later(message.state, early.current.get(message.id))
      const merged = { ...message, state }
      const at = previous.findIndex((m) => m.id === message.id)
      if (at >= 0) {
        const next = previous.slice()
        next[at] = { ...merged, state: later(state, previous[at]!.state) }
        return next
      }
      return [...previous, merged].sort(conversationOrder)
    })
  }, [])

  useEffect(() => {
    setMessages([])
    setLoaded(false)
    if (contactId === undefined) return
    let alive = true
    client.history(contactId, { limit: HISTORY_LIMIT }).then(
      (list) => {
        if (!alive) return
        // Keep anything that arrived while the history was loading.
        setMessages((live) => {
          const ids = new Set(list.map((m) => m.id))
          return [...list, ...live.filter((m) => !ids.has(m.id))].sort(conversationOrder)
        })
        setLoaded(true)
      },
      (error: unknown) => alive && onError(error),
    )
    const offMessage = client.on('message', (message) => {
      if (alive && message.contactId === contactId) upsert(message)
    })
    const offDelivery = client.on('delivery', (event) => {
      if (!alive || event.contactId !== contactId) return
      early.current.set(event.messageId, later(event.state, early.current.get(event.messageId)))
      if (event.state === 'sent' && !known.current.has(event.messageId)) {
        // A message written on another device of ours: load it.
        client.history(contactId, { limit: HISTORY_LIMIT }).then(
          (list) => alive && list.forEach((m) => m.id === event.messageId && upsert(m)),
          (error: unknown) => alive && onError(error),
        )
      }
      setMessages((previous) =>
        previous.map((m) =>
          m.id === event.messageId
            ? { ...m, state: later(m.state, event.state), route: event.route ?? m.route }
            : m,
        ),
      )
    })
    // Another process on this home (`passage send`, a second screen) writes to the same
    // history without telling this one: re-read it now and then, keep what changed.
    const timer = setInterval(() => {
      client.history(contactId, { limit: HISTORY_LIMIT }).then(
        (list) => alive && setMessages((previous) => mergeHistory(previous, list)),
        (error: unknown) => alive && onError(error),
      )
    }, refreshMs)
    timer.unref?.()
    return () => {
      alive = false
      clearInterval(timer)
      offMessage()
      offDelivery()
    }
  }, [client, contactId, upsert, onError, refreshMs])

  // What is on screen is read: mark it so, once per batch of unread messages.
  const unreadIds = messages
    .filter((m) => m.direction === 'in' && !m.read)
    .map((m) => m.id)
    .join(',')
  useEffect(() => {
    if (contactId === undefined || unreadIds === '') return
    const ids = unreadIds.split(',')
    let alive = true
    client.markRead(contactId, ids).then(
      () => {
        if (!alive) return
        setMessages((previous) =>
          previous.map((m) => (ids.includes(m.id) ? { ...m, read: true } : m)),
        )
        onRead()
      },
      (error: unknown) => alive && onError(error),
    )
    return () => {
      alive = false
    }
  }, [client, contactId, unreadIds, onError, onRead])

  return { messages, loaded, add: upsert }
}
