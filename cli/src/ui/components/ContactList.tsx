import { Box, Text } from 'ink'
import type { Conversation } from '@passage/sdk'
import { contactLabel } from '../../format.js'
import type { Theme } from '../theme.js'
import { truncate } from '../wrap.js'

export interface ContactListProps {
  conversations: Conversation[]
  selectedId: string | undefined
  /** Columns inside the list's border. */
  width: number
  /** Rows for contacts (the title takes one more). */
  height: number
  theme: Theme
}

/**
 * The left pane: one row per contact or group, `>` marking the selected one, its online mark
 * (`#` for a group), its name (cut to fit) and its unread count. Scrolls to keep the
 * selection visible.
 */
export function ContactList({ conversations, selectedId, width, height, theme }: ContactListProps) {
  const at = Math.max(
    0,
    conversations.findIndex((c) => c.contact.id === selectedId),
  )
  const rows = Math.max(1, height)
  const first = Math.min(Math.max(0, at - rows + 1), Math.max(0, conversations.length - rows))
  const shown = conversations.slice(first, first + rows)
  const ellipsis = theme.ascii ? '~' : '…'
  return (
    <Box flexDirection="column" width={width}>
      <Text bold={theme.color} wrap="truncate-end">
        {truncate(`Contacts (${conversations.length})`, width, ellipsis)}
      </Text>
      {shown.map((conversation) => {
        const { contact } = conversation
        const selected = contact.id === selectedId
        const unread = conversation.unread > 0 ? ` ${conversation.unread}` : ''
        // A group is marked `#` where a contact shows whether it is online.
        const mark = conversation.group
          ? '#'
          : contact.flagged
            ? theme.flagged
            : contact.online
              ? theme.online
              : theme.offline
        const nameWidth = Math.max(1, width - 3 - unread.length)
        const name = truncate(contactLabel(contact, ellipsis), nameWidth, ellipsis).padEnd(
          nameWidth,
        )
        const color = theme.color
        return (
          <Text key={contact.id} wrap="truncate-end">
            <Text>{selected ? '>' : ' '}</Text>
            <Text
              {...(color && {
                color: conversation.group
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
            >
              {name}
            </Text>
            <Text {...(color && { color: 'yellow' })}>{unread}</Text>
          </Text>
        )
      })}
      {conversations.length === 0 && (
        <Text wrap="truncate-end" {...(theme.color && { dimColor: true })}>
          {truncate('(none)', width, ellipsis)}
        </Text>
      )}
    </Box>
  )
}
