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

/** A notice narrower than this hides the network facts while it shows. */
const NOTICE_MIN_COLUMNS = 40

/**
 * The bottom line: LAN peers, super-node reachability, DHT nodes, direct links, outbox, the
 * keys, and at its right end always the way out (`Esc quit · ? help`). A notice (an error, a
 * refused message) replaces the keys for a few seconds, and the facts too when it needs the room.
 */
export function StatusBar({ status, notice, width, theme }: StatusBarProps) {
  const sep = theme.ascii ? ' | ' : ' │ '
  const dot = theme.ascii ? ' - ' : ' · '
  const facts = [
    `LAN ${status.lanPeers}`,
    superNodes(status),
    `DHT ${status.dhtNodes}`,
    `links ${status.directLinks}`,
    `outbox ${status.outbox}`,
  ].join(sep)
  const quit = `Esc quit${dot}? help`
  const message = notice ?? `Tab next${dot}PgUp/PgDn`
  const ellipsis = theme.ascii ? '~' : '…'
  const roomWith = (left: string) => width - columnsOf(left) - (left ? 2 : 0) - columnsOf(quit) - 2
  const left =
    notice !== undefined && roomWith(facts) < Math.min(columnsOf(notice), NOTICE_MIN_COLUMNS)
      ? ''
      : facts
  const room = roomWith(left)
  const middle = room >= 8 ? truncate(message, room, ellipsis) : ''
  const gap = ' '.repeat(Math.max(0, room - columnsOf(middle)) + 2)
  const down = status.superNodes.some((s) => !s.reachable) || !status.online
  const color = theme.color
  if (width < columnsOf(quit) + 2) {
    return <Text wrap="truncate-end">{truncate(quit, width, ellipsis)}</Text>
  }
  return (
    <Text wrap="truncate-end">
      {left !== '' && (
        <Text {...(color && { color: down ? 'yellow' : 'green' })}>
          {truncate(left, Math.max(0, width - columnsOf(quit) - 2), ellipsis)}
          {'  '}
        </Text>
      )}
      <Text {...(color && (notice ? { color: 'red' } : { dimColor: true }))}>{middle}</Text>
      <Text>{gap}</Text>
      <Text {...(color && { bold: true })}>{quit}</Text>
    </Text>
  )
}
