import { Text } from 'ink'
import type { ClientStatus } from '@passage/sdk'
import type { Theme } from '../theme.js'
import { truncate, width as columnsOf } from '../wrap.js'

export interface StatusBarProps {
  status: ClientStatus
  notice: string | undefined
  width: number
  theme: Theme
}

/** What the status bar says about the super-nodes: how many answer. */
function superNodes(status: ClientStatus): string {
  const all = status.superNodes.length
  if (all === 0) return 'super-node none'
  const up = status.superNodes.filter((s) => s.reachable).length
  return up === all
    ? `super-node ok${all > 1 ? ` ${up}/${all}` : ''}`
    : `super-node ${up}/${all} down`
}

/**
 * The bottom line: LAN peers, super-node reachability, DHT nodes, direct links, outbox, and
 * the keys; a notice (an error, a refused message) replaces the keys for a few seconds.
 */
export function StatusBar({ status, notice, width, theme }: StatusBarProps) {
  const sep = theme.ascii ? ' | ' : ' │ '
  const facts = [
    `LAN ${status.lanPeers}`,
    superNodes(status),
    `DHT ${status.dhtNodes}`,
    `links ${status.directLinks}`,
    `outbox ${status.outbox}`,
  ].join(sep)
  const keys = 'Tab next · PgUp/PgDn · Esc quit'
  const right = notice ?? (theme.ascii ? keys.replace(/·/g, '-') : keys)
  const room = width - columnsOf(facts) - 2
  const ellipsis = theme.ascii ? '~' : '…'
  const tail = room >= 8 ? `  ${truncate(right, room, ellipsis)}` : ''
  const down = status.superNodes.some((s) => !s.reachable) || !status.online
  const color = theme.color
  return (
    <Text wrap="truncate-end">
      <Text {...(color && { color: down ? 'yellow' : 'green' })}>
        {truncate(facts, width, ellipsis)}
      </Text>
      <Text {...(color && (notice ? { color: 'red' } : { dimColor: true }))}>{tail}</Text>
    </Text>
  )
}
