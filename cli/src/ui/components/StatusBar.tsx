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
  const ellipsis = theme.ascii ? '~' : '…'
  const quitColumns = columnsOf(quit)
  // What is left of the line beside `left` and two spaces, before the quit hint.
  const roomBeside = (left: string) => width - columnsOf(left) - (left ? 2 : 0) - quitColumns
  const wanted =
    notice !== undefined && roomBeside(facts) - 2 < Math.min(columnsOf(notice), NOTICE_MIN_COLUMNS)
      ? ''
      : facts
  const left = wanted && truncate(wanted, Math.max(0, width - quitColumns - 2), ellipsis)
  const room = roomBeside(left) - 2
  // A notice is cut to fit; the keys are shown whole or not at all.
  const keys = [`Tab next${dot}PgUp/PgDn`, 'Tab next'].find((k) => columnsOf(k) <= room) ?? ''
  const middle = notice === undefined ? keys : room >= 8 ? truncate(notice, room, ellipsis) : ''
  const gap = ' '.repeat(Math.max(0, roomBeside(left) - columnsOf(middle)))
  const down = status.superNodes.some((s) => !s.reachable) || !status.online
  const color = theme.color
  if (width < columnsOf(quit) + 2) {
    return <Text wrap="truncate-end">{truncate(quit, width, ellipsis)}</Text>
  }
  return (
    <Text wrap="truncate-end">
      {left !== '' && (
        <Text {...(color && { color: down ? 'yellow' : 'green' })}>
          {left}
          {'  '}
        </Text>
      )}
      <Text {...(color && (notice ? { color: 'red' } : { dimColor: true }))}>{middle}</Text>
      <Text>{gap}</Text>
      <Text {...(color && { bold: true })}>{quit}</Text>
    </Text>
  )
}
