import { Box, Text, useInput } from 'ink'
import { useEffect, useRef, useState } from 'react'
import { MAX_TEXT_BYTES } from '@passage/sdk'
import { cursorRow, layoutInput, utf8Bytes } from '../input-layout.js'
import type { Theme } from '../theme.js'
import { graphemes, truncate, width as columnsOf } from '../wrap.js'

/** The input grows to this many rows for a long message, then follows the cursor. */
export const MAX_INPUT_ROWS = 4

/** From this size on the rule above the input shows the draft's size against the limit. */
const COUNTER_FROM_BYTES = 3_000 // three quarters of the limit: room to notice before it

// Bracketed paste (the screen turns it on): a paste arrives between these two sequences.
const PASTE_START = '[200~'
const PASTE_END = '[201~'

export interface MessageInputProps {
  /** False when there is no one to write to: commands (`/add`) are still taken. */
  enabled: boolean
  /** False while something else (the help overlay) takes the keys. */
  active?: boolean
  width: number
  theme: Theme
  /**
   * Called with the draft on Enter. Returning false keeps the draft (a refused message, a
   * failed command); anything else clears it.
   */
  onSubmit: (text: string) => boolean | void
  /** Told how many rows the text needs (1 to {@link MAX_INPUT_ROWS}) as it changes. */
  onRows?: (rows: number) => void
  /** Told the draft as it changes (the screen asks before quitting with one). */
  onDraft?: (text: string) => void
  /** `?` on an empty draft. */
  onHelp?: () => void
}

/** The draft: its clusters and the cursor (a cluster index). */
interface Draft {
  clusters: string[]
  cursor: number
}

/** Newlines of any convention (a paste from a terminal has `\r`) become `\n`. */
function normalise(text: string): string {
  const lines = text.replace(/\r\n?/g, '\n').replace(/\t/g, '    ')
  // Other control characters (a stray Ctrl key in a paste) would move the terminal's cursor.
  return [...lines].filter((c) => c === '\n' || (c >= ' ' && c !== '\u007f')).join('')
}

/**
 * The rule above the input and the input: Enter sends, Alt+Enter starts a new line (so does
 * Enter inside a paste), ←/→ Home/End move, Backspace deletes, Ctrl+U clears. A draft over
 * {@link MAX_TEXT_BYTES} shows its size in the rule and is not sent (the screen says why);
 * nothing typed or pasted is ever dropped.
 */
export function MessageInput({
  enabled,
  active = true,
  width,
  theme,
  onSubmit,
  onRows,
  onDraft,
  onHelp,
}: MessageInputProps) {
  // The draft lives in a ref: Ink re-subscribes the key handler after each render, and a
  // paste arrives in several chunks before the next render. Each chunk must add to what the
  // previous one left, not to the value of the last render.
  const draft = useRef<Draft>({ clusters: [], cursor: 0 })
  const pasting = useRef(false)
  const [, setVersion] = useState(0)
  const textColumns = Math.max(2, width - 2)
  // One column narrower than the row: the cursor after the last character needs one.
  const rowsOf = (clusters: string[]) => layoutInput(clusters, textColumns - 1)
  const update = (next: Draft) => {
    draft.current = next
    setVersion((v) => v + 1)
    // In the same batch as the draft: the screen makes room in the same frame, not one later.
    onRows?.(Math.min(MAX_INPUT_ROWS, rowsOf(next.clusters).length))
    onDraft?.(next.clusters.join(''))
  }
  const insert = (text: string) => {
    const { clusters, cursor } = draft.current
    const added = graphemes(normalise(text))
    if (added.length === 0) return
    // Re-segment around the insertion: an accent typed after a letter joins it.
    const before = graphemes(clusters.slice(0, cursor).join('') + added.join(''))
    update({ clusters: [...before, ...clusters.slice(cursor)], cursor: before.length })
  }

  useInput(
    (input, key) => {
      const { clusters, cursor } = draft.current
      if (input === PASTE_START) pasting.current = true
      else if (input === PASTE_END) pasting.current = false
      else if (key.return && (key.meta || pasting.current)) insert('\n')
      else if (key.return) {
        const text = clusters.join('')
        if (text.trim() === '') return
        if (onSubmit(text) !== false) update({ clusters: [], cursor: 0 })
      } else if (key.escape || key.tab || key.upArrow || key.downArrow) return
      else if (key.pageUp || key.pageDown) return
      else if (key.backspace || key.delete) {
        if (cursor === 0) return
        update({
          clusters: [...clusters.slice(0, cursor - 1), ...clusters.slice(cursor)],
          cursor: cursor - 1,
        })
      } else if (key.leftArrow) update({ clusters, cursor: Math.max(0, cursor - 1) })
      else if (key.rightArrow) update({ clusters, cursor: Math.min(clusters.length, cursor + 1) })
      else if (key.home || (key.ctrl && input === 'a')) update({ clusters, cursor: 0 })
      else if (key.end || (key.ctrl && input === 'e')) {
        update({ clusters, cursor: clusters.length })
      } else if (key.ctrl && input === 'u') update({ clusters: [], cursor: 0 })
      else if (key.ctrl || key.meta) return
      else if (input === '?' && clusters.length === 0 && onHelp) onHelp()
      else insert(input)
    },
    { isActive: active },
  )

  const { clusters, cursor } = draft.current
  const rows = rowsOf(clusters)
  const at = cursorRow(rows, cursor)
  const shown = Math.min(MAX_INPUT_ROWS, rows.length)
  const first = Math.max(0, Math.min(at - shown + 1, rows.length - shown))
  useEffect(() => {
    onRows?.(shown) // after a resize
  }, [shown, onRows])

  const bytes = utf8Bytes(clusters.join(''))
  const color = theme.color
  const over = bytes > MAX_TEXT_BYTES
  const counter =
    bytes >= COUNTER_FROM_BYTES
      ? ` ${bytes.toLocaleString('en')}/${MAX_TEXT_BYTES.toLocaleString('en')} bytes${over ? ': too long to send, shorten it' : ''} `
      : ''
  const label = truncate(counter, Math.max(0, width - 2), theme.ascii ? '~' : '…')
  const ruleChar = theme.ascii ? '-' : '─'
  const prompt = theme.ascii ? '> ' : '› '
  const showCursor = color && active

  return (
    <Box flexDirection="column" width={width}>
      <Text wrap="truncate-end">
        <Text {...(color && { dimColor: true })}>
          {ruleChar.repeat(Math.max(0, width - columnsOf(label) - 1))}
        </Text>
        <Text {...(color && (over ? { color: 'red', bold: true } : { color: 'yellow' }))}>
          {label}
        </Text>
        <Text {...(color && { dimColor: true })}>{ruleChar}</Text>
      </Text>
      {clusters.length === 0 ? (
        <Text wrap="truncate-end">
          <Text {...(color && { color: 'green' })}>{prompt}</Text>
          {showCursor && <Text inverse> </Text>}
          {(color || !enabled) && (
            <Text {...(color && { dimColor: true })}>
              {truncate(
                enabled
                  ? 'type a message, Enter sends, Alt+Enter new line, ? help'
                  : 'no contact selected: /add <URI> adds one, ? help',
                Math.max(0, width - 3),
              )}
            </Text>
          )}
        </Text>
      ) : (
        rows.slice(first, first + shown).map((row, i) => {
          const r = first + i
          const text = (from: number, to: number) => clusters.slice(from, to).join('')
          const here = showCursor && r === at
          const under = here && cursor < row.end ? clusters[cursor]! : ' '
          return (
            <Text key={r} wrap="truncate-end">
              <Text {...(color && { color: 'green' })}>{r === 0 ? prompt : '  '}</Text>
              {here ? (
                <>
                  <Text>{text(row.start, cursor)}</Text>
                  <Text inverse>{under}</Text>
                  <Text>{text(Math.min(row.end, cursor + 1), row.end)}</Text>
                </>
              ) : (
                <Text>{text(row.start, row.end)}</Text>
              )}
            </Text>
          )
        })
      )}
    </Box>
  )
}
