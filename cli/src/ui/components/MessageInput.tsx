import { Box, Text } from 'ink'
import TextInput from 'ink-text-input'
import { useRef, useState } from 'react'
import type { Theme } from '../theme.js'

export interface MessageInputProps {
  /** False when there is no one to write to. */
  enabled: boolean
  width: number
  theme: Theme
  onSubmit: (text: string) => void
}

/** The input line: Enter sends (blank lines are ignored), the line then clears. */
export function MessageInput({ enabled, width, theme, onSubmit }: MessageInputProps) {
  const [value, setValue] = useState('')
  // ink-text-input's key handler is re-subscribed after each render: an Enter that comes
  // right after a keystroke may reach the previous handler, with the previous value. The
  // latest value is kept here so that Enter always sends what is on screen.
  const latest = useRef('')
  const change = (next: string) => {
    latest.current = next
    setValue(next)
  }
  const prompt = theme.ascii ? '> ' : '› '
  return (
    <Box width={width} height={1} overflow="hidden">
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
