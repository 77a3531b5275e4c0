import { useCallback } from 'react'
import type { ChatMessage, ContactId, PassageClient } from '@passage/sdk'

/**
 * Sending from the screen: the message is saved in the outbox and shown at once (`pending`),
 * and goes out in the background; its mark follows the `delivery` events.
 */
export function useSend(
  client: PassageClient,
  onSent: (message: ChatMessage) => void,
  onError: (error: unknown) => void,
): (contactId: ContactId, text: string) => void {
  return useCallback(
    (contactId, text) => {
      client.send(contactId, text, { wait: false }).then(onSent, onError)
    },
    [client, onSent, onError],
  )
}
