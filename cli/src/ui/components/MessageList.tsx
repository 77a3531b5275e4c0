import { Box, Text } from 'ink'
import type { ReactNode } from 'react'
import type { ChatMessage } from '@passage/sdk'
import { attachmentLabel, isGif } from '../../attachment-text.js'
import type { Theme } from '../theme.js'
import { width as columnsOf, wrap } from '../wrap.js'

/** The most rows a GIF takes in the conversation: about half an 80×24 screen's messages. */
export const GIF_MAX_ROWS = 8

/** One screen line of the conversation. */
export interface MessageLine {
  key: string
  /** On the first line of a message: its time and author. */
  head?: { time: string; author: string; direction: ChatMessage['direction'] }
  text: string
  /** On the last line of an outgoing message: its delivery mark. */
  mark?: { text: string; state: ChatMessage['state'] }
  /** A line of news in the conversation (a device linked or revoked), not a message. */
  notice?: true
  /** A row of a GIF's picture (`text` is the indent before it). */
  gif?: { messageId: string; row: number }
}

/** How many rows a GIF message's picture takes at most `columns` wide; 0: none (words only). */
export type GifRows = (message: ChatMessage, columns: number) => number

/** News shown in a conversation among its messages, at the time it happened. */
export interface ConversationNotice {
  key: string
  at: number
  text: string
}

/** `HH:MM` in local time. */
function clock(ms: number): string {
  const date = new Date(ms)
  return `${String(date.getHours()).padStart(2, '0')}:${String(date.getMinutes()).padStart(2, '0')}`
}

/**
 * Lays messages out in lines of at most `width` columns: `HH:MM author: text mark`, wrapped
 * with continuation lines indented under the text's start column (6 columns).
 */
export function layoutMessages(
  messages: ChatMessage[],
  authorOf: (message: ChatMessage) => string,
  width: number,
  theme: Theme,
  notices: ConversationNotice[] = [],
  gifRows: GifRows = () => 0,
): MessageLine[] {
  const lines: MessageLine[] = []
  const indent = 6
  const pending = [...notices].sort((a, b) => a.at - b.at)
  const flush = (until: number) => {
    while (pending.length > 0 && pending[0]!.at <= until) {
      const notice = pending.shift()!
      wrap(`${clock(notice.at)} ${notice.text}`, Math.max(1, width)).forEach((text, i) =>
        lines.push({ key: `${notice.key}:${i}`, text, notice: true }),
      )
    }
  }
  for (const message of messages) {
    flush(message.receivedAt)
    const time = clock(message.sentAt)
    const author = authorOf(message)
    const headWidth = columnsOf(`${time} ${author}: `)
    const mark = message.direction === 'out' ? theme.marks[message.state] : undefined
    // An attachment: its label first ([GIF 320×240 · 12 frames · …] or [file …]), then its
    // caption; a GIF's picture below, in the rows `gifRows` gives.
    const text = message.attachment
      ? `${attachmentLabel(message.attachment, theme.ascii)}${message.text === '' ? '' : ` ${message.text}`}`
      : message.text
    const body = wrap(text, Math.max(1, width - headWidth), Math.max(1, width - indent))
    body.forEach((text, i) => {
      lines.push({
        key: `${message.id}:${i}`,
        ...(i === 0 ? { head: { time, author, direction: message.direction } } : {}),
        text: i === 0 ? text : `${' '.repeat(indent)}${text}`,
      })
    })
    const rows =
      message.attachment && isGif(message.attachment) ? gifRows(message, width - indent) : 0
    for (let row = 0; row < rows; row++) {
      lines.push({
        key: `${message.id}:gif:${row}`,
        text: ' '.repeat(indent),
        gif: { messageId: message.id, row },
      })
    }
    if (mark !== undefined) {
      const last = lines[lines.length - 1]!
      const used = (last.head ? headWidth : 0) + columnsOf(last.text)
      if (used + 1 + columnsOf(mark) <= width) last.mark = { text: mark, state: message.state }
      else
        lines.push({
          key: `${message.id}:mark`,
          text: ' '.repeat(indent),
          mark: { text: mark, state: message.state },
        })
    }
  }
  flush(Infinity)
  return lines
}

export interface MessageListProps {
  lines: MessageLine[]
  /** Draws rows [from, to) of a GIF message's picture (`GifView`). */
  renderGif?: (messageId: string, fromRow: number, toRow: number) => ReactNode
  /** Lines scrolled up from the newest. */
  scroll: number
  height: number
  width: number
  theme: Theme
  empty: string
}

const MARK_COLORS: Record<ChatMessage['state'], string> = {
  pending: 'yellow',
  sent: 'green',
  stored: 'cyan',
  delivered: 'green',
  read: 'blue',
}

/** The visible part of the conversation: `height` lines ending `scroll` lines above the newest. */
export function MessageList({
  lines,
  scroll,
  height,
  width,
  theme,
  empty,
  renderGif,
}: MessageListProps) {
  const end = Math.max(0, lines.length - scroll)
  const shown = lines.slice(Math.max(0, end - height), end)
  const color = theme.color
  // A GIF's visible rows, one picture: its first shown line stands for them all.
  const groups: Array<MessageLine | { gif: string; from: number; to: number; key: string }> = []
  for (const line of shown) {
    const last = groups[groups.length - 1]
    if (line.gif && last && 'from' in last && last.gif === line.gif.messageId) last.to++
    else if (line.gif)
      groups.push({
        gif: line.gif.messageId,
        from: line.gif.row,
        to: line.gif.row + 1,
        key: line.key,
      })
    else groups.push(line)
  }
  return (
    <Box flexDirection="column" height={height} width={width} overflow="hidden">
      {lines.length === 0 && (
        <Text wrap="truncate-end" {...(color && { dimColor: true })}>
          {empty}
        </Text>
      )}
      {groups.map((line) =>
        'from' in line ? (
          <Box key={line.key} flexDirection="row" height={line.to - line.from} overflow="hidden">
            <Text>{' '.repeat(6)}</Text>
            <Box flexDirection="column">{renderGif?.(line.gif, line.from, line.to)}</Box>
          </Box>
        ) : (
          <Text key={line.key} wrap="truncate-end">
            {line.head && (
              <>
                <Text {...(color && { dimColor: true })}>{line.head.time} </Text>
                <Text
                  {...(color && {
                    bold: true,
                    color: line.head.direction === 'in' ? 'cyan' : 'magenta',
                  })}
                >
                  {line.head.author}
                </Text>
                <Text>: </Text>
              </>
            )}
            {line.notice ? (
              <Text {...(color && { dimColor: true, italic: true })}>{line.text}</Text>
            ) : (
              <Text>{line.text}</Text>
            )}
            {line.mark && (
              <Text {...(color && { color: MARK_COLORS[line.mark.state] })}> {line.mark.text}</Text>
            )}
          </Text>
        ),
      )}
    </Box>
  )
}
