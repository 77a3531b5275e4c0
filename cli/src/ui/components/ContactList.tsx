import { Box, Text } from 'ink'
import type { ChatRequest, Conversation } from '@passage/sdk'
import { claimedLabel, contactLabel } from '../../format.js'
import type { Theme } from '../theme.js'
import { truncate, width } from '../wrap.js'

/** One row of the list: a conversation, or a contact request shown as one. */
export type ListEntry = Conversation & { request?: ChatRequest }

/** A contact request as a row of the list (no name of the user's: it only claims one). */
export function requestEntry(request: ChatRequest): ListEntry {
  return {
    contact: {
      id: request.id,
      textId: request.textId,
      publicKey: request.publicKey,
      addedAt: request.firstSeenAt,
      ...(request.lastSeenAt !== undefined ? { lastSeenAt: request.lastSeenAt } : {}),
      online: false,
      unread: request.unread,
    },
    ...(request.lastMessage ? { lastMessage: request.lastMessage } : {}),
    unread: request.unread,
    updatedAt: request.lastSeenAt ?? request.firstSeenAt,
    request,
  }
}

/** How an entry is named in the list and the header: a request by its claim, `~Name?`. */
export function entryLabel(entry: ListEntry, ellipsis: string): string {
  return entry.request
    ? claimedLabel(entry.request, ellipsis)
    : contactLabel(entry.contact, ellipsis)
}

export interface ContactListProps {
  /** Requests first, then contacts and groups. */
  entries: ListEntry[]
  selectedId: string | undefined
  /** Columns inside the list's border. */
  width: number
  /** Rows for the list, its titles included but the first. */
  height: number
  theme: Theme
}

type Row = { title: string } | { entry: ListEntry }

/**
 * The left pane: contact requests under their own title when there are any (`?` marks them,
 * their names shown as claims), then one row per contact or group, `>` marking the selected
 * one, its online mark (`#` for a group), its name (cut to fit) and its unread count. Scrolls
 * to keep the selection visible.
 */
export function ContactList({ entries, selectedId, width, height, theme }: ContactListProps) {
  const requests = entries.filter((e) => e.request)
  const others = entries.filter((e) => !e.request)
  const rows: Row[] = [
    ...(requests.length > 0
      ? [{ title: `Requests (${requests.length})` }, ...requests.map((entry) => ({ entry }))]
      : []),
    { title: `Contacts (${others.length})` },
    ...others.map((entry) => ({ entry })),
  ]
  const at = Math.max(
    0,
    rows.findIndex((r) => 'entry' in r && r.entry.contact.id === selectedId),
  )
  const visible = Math.max(1, height + 1)
  const first = Math.min(Math.max(0, at - visible + 1), Math.max(0, rows.length - visible))
  const ellipsis = theme.ascii ? '~' : '…'
  return (
    <Box flexDirection="column" width={width}>
      {rows.slice(first, first + visible).map((row) =>
        'title' in row ? (
          <Text key={`title:${row.title}`} bold={theme.color} wrap="truncate-end">
            {truncate(row.title, width, ellipsis)}
          </Text>
        ) : (
          <EntryRow
            key={row.entry.contact.id}
            entry={row.entry}
            selected={row.entry.contact.id === selectedId}
            columns={width}
            theme={theme}
          />
        ),
      )}
      {others.length === 0 && (
        <Text wrap="truncate-end" {...(theme.color && { dimColor: true })}>
          {truncate('(none)', width, ellipsis)}
        </Text>
      )}
    </Box>
  )
}

function EntryRow({
  entry,
  selected,
  columns,
  theme,
}: {
  entry: ListEntry
  selected: boolean
  columns: number
  theme: Theme
}) {
  const { contact } = entry
  const ellipsis = theme.ascii ? '~' : '…'
  const unread = entry.unread > 0 ? ` ${entry.unread}` : ''
  // A request is marked `?`, a group `#`, where a contact shows whether it is online.
  const mark = entry.request
    ? '?'
    : entry.group
      ? '#'
      : contact.flagged
        ? theme.flagged
        : contact.online
          ? theme.online
          : theme.offline
  const nameWidth = Math.max(1, columns - 3 - unread.length)
  const cut = truncate(entryLabel(entry, ellipsis), nameWidth, ellipsis)
  // Padded by columns, not characters: a CJK or emoji name takes two a character.
  const name = cut + ' '.repeat(Math.max(0, nameWidth - width(cut)))
  const color = theme.color
  return (
    <Text wrap="truncate-end">
      <Text>{selected ? '>' : ' '}</Text>
      <Text
        {...(color && {
          color: entry.request
            ? 'yellow'
            : entry.group
              ? 'cyan'
              : contact.flagged
                ? 'red'
                : contact.online
                  ? 'green'
                  : 'gray',
        })}
      >
        {mark}
      </Text>
      <Text> </Text>
      <Text
        {...(color && selected && { inverse: true })}
        {...(color && { bold: unread !== '' })}
        {...(color && entry.request && { italic: true })}
      >
        {name}
      </Text>
      <Text {...(color && { color: 'yellow' })}>{unread}</Text>
    </Text>
  )
}
