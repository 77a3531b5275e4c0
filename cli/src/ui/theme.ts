import type { DeliveryState } from '@passage/sdk'

/** How the chat screen draws: colour or not, Unicode or plain ASCII. */
export interface Theme {
  /** False under `NO_COLOR` or a dumb terminal: no colour, bold, dim or inverse at all. */
  color: boolean
  /** True on a dumb terminal (`TERM=dumb`) or with `PASSAGE_ASCII`: ASCII marks and borders. */
  ascii: boolean
  /** The mark after an outgoing message, by delivery state. */
  marks: Record<DeliveryState, string>
  online: string
  offline: string
  flagged: string
  border: 'single' | 'classic'
}

const UNICODE_MARKS: Record<DeliveryState, string> = {
  pending: '⧗',
  sent: '✓',
  stored: '↓',
  delivered: '✓✓',
  // Not `●`: that is a contact who is online. One symbol, one meaning.
  read: '✓✓ read',
}

const ASCII_MARKS: Record<DeliveryState, string> = {
  pending: '...',
  sent: '+',
  stored: 'v',
  delivered: '++',
  read: 'R',
}

/** The theme the environment asks for (https://no-color.org, `TERM=dumb`). */
export function themeFor(env: Record<string, string | undefined>): Theme {
  const dumb = env.TERM === 'dumb'
  const noColor = env.NO_COLOR !== undefined && env.NO_COLOR !== ''
  const ascii = dumb || (env.PASSAGE_ASCII !== undefined && env.PASSAGE_ASCII !== '')
  return {
    color: !noColor && !dumb,
    ascii,
    marks: ascii ? ASCII_MARKS : UNICODE_MARKS,
    online: ascii ? '*' : '●',
    offline: ascii ? '-' : '○',
    flagged: '!',
    border: ascii ? 'classic' : 'single',
  }
}
