import { Box, Text } from 'ink'
import TextInput from 'ink-text-input'
import { useRef, useState } from 'react'
import type { Theme } from '../theme.js'
import { wrap } from '../wrap.js'

/** The input grows to this many rows for a long message, then shows its start only. */
export const MAX_INPUT_ROWS = 4

export interface MessageInputProps {
  /** False when there is no one to write to. */
  enabled: boolean
  width: number
  theme: Theme
  onSubmit: (text: string) => void
  /** Told how many rows the input needs (1 to {@link MAX_INPUT_ROWS}) as the text grows. */
  onRows?: (rows: number) => void
}

/**
 * Rows a value takes after the 2-column prompt. Ink wraps at word boundaries; wrapping one
 * column narrower than Ink does (room for the cursor) never counts fewer rows than it shows.
 */
export function inputRows(value: string, width: number): number {
  const rows = wrap(value, Math.max(1, width - 3)).length
  return Math.min(MAX_INPUT_ROWS, Math.max(1, rows))
}

/** The input line: Enter sends (blank lines are ignored), the line then clears. */
export function MessageInput({ enabled, width, theme, onSubmit, onRows }: MessageInputProps) {
  const [value, setValue] = useState('')
  // ink-text-input's key handler is re-subscribed after each render: an Enter that comes
  // right after a keystroke may reach the previous handler, with the previous value. The
  // latest value is kept here so that Enter always sends what is on screen.
  const latest = useRef('')
  const change = (next: string) => {
    latest.current = next
    setValue(next)
    onRows?.(inputRows(next, width))
  }
  const prompt = theme.ascii ? '> ' : '› '
  return (
    <Box width={width} height={inputRows(value, width)} overflow="hidden">
      <Text {...(theme.color && { color: 'green' })}>{prompt}</Text>
      {enabled ? (
        <TextInput
          value={value}
          onChange={change}
          onSubmit={() => {
            const text = latest.current
            if (text.trim() === '') return
            change('')
            onSubmit(text)
          }}
          // The cursor is drawn in inverse video: under NO_COLOR no attribute is drawn at all.
          showCursor={theme.color}
          {...(theme.color && { placeholder: 'type a message, Enter to send' })}
        />
      ) : (
        <Text {...(theme.color && { dimColor: true })}>no contact selected</Text>
      )}
    </Box>
  )
}
