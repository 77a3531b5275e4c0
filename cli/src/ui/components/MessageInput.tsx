import { Box, Text } from 'ink'
import TextInput from 'ink-text-input'
import { useState } from 'react'
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
  const prompt = theme.ascii ? '> ' : '› '
  return (
    <Box width={width} height={1} overflow="hidden">
      <Text {...(theme.color && { color: 'green' })}>{prompt}</Text>
      {enabled ? (
        <TextInput
          value={value}
          onChange={setValue}
          onSubmit={(text) => {
            if (text.trim() === '') return
            setValue('')
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
