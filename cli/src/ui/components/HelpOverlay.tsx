import { Box, Text } from 'ink'
import { CHAT_COMMANDS, chatKeys, markLegend } from '../chat-commands.js'
import type { Theme } from '../theme.js'
import { truncate, wrap } from '../wrap.js'

/** What each delivery mark means, in the order a message goes through them. */

/** The help's lines within `width` columns: keys, commands, delivery and contact marks. */
export function helpLines(theme: Theme, width: number): string[] {
  const arrows = theme.ascii ? 'Up/Down' : '↑/↓'
  const sep = theme.ascii ? '  ' : ' · '
  const keys = chatKeys(arrows)
  const keyWidth = Math.max(...keys.map(([k]) => k.length))
  const paragraph = (text: string) => wrap(text, width, width)
  return [
    ...keys.map(([k, v]) =>
      truncate(`${k.padEnd(keyWidth)}  ${v}`, width, theme.ascii ? '~' : '…'),
    ),
    ...paragraph(`Commands: ${CHAT_COMMANDS.map(([usage]) => usage).join('  ')} (sends /text)`),
    ...paragraph(`Your messages: ${markLegend(theme.marks).join(sep)}`),
    ...paragraph(
      `Contacts: ${theme.online} online${sep}${theme.offline} offline${sep}${theme.flagged} a message refused${sep}# a group`,
    ),
    'Esc or any key closes this help.',
  ]
}

export interface HelpOverlayProps {
  theme: Theme
  width: number
  height: number
}

/** The `?` / `/help` overlay, in place of the conversation: as much as fits. */
export function HelpOverlay({ theme, width, height }: HelpOverlayProps) {
  const ellipsis = theme.ascii ? '~' : '…'
  const lines = helpLines(theme, width)
  return (
    <Box flexDirection="column" height={height} width={width} overflow="hidden">
      {lines.slice(0, height).map((line, i) => (
        <Text
          key={i}
          wrap="truncate-end"
          {...(theme.color && /^[A-Z][a-z ]+:/.test(line) && { bold: true })}
        >
          {truncate(line, width, ellipsis)}
        </Text>
      ))}
    </Box>
  )
}
