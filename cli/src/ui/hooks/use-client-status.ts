import { useEffect, useState } from 'react'
import type { ClientStatus, PassageClient } from '@passage/sdk'

/** How often the status bar re-reads the status besides `status` events. */
const STATUS_POLL_MS = 2_000 // 2 s: counters (DHT nodes) change without an event

/** The network status for the status bar: LAN peers, super-nodes, DHT nodes, outbox. */
export function useClientStatus(client: PassageClient): ClientStatus {
  const [status, setStatus] = useState(() => client.status())
  useEffect(() => {
    setStatus(client.status())
    const off = client.on('status', setStatus)
    const timer = setInterval(() => setStatus(client.status()), STATUS_POLL_MS)
    timer.unref?.()
    return () => {
      off()
      clearInterval(timer)
    }
  }, [client])
  return status
}
