import type { DeliveryState } from '@passage/sdk'
// What the chat screen's input line means: a message to send, or an in-screen command
// (`/help`, `/add <uri>`, `/name <new name>`, `/accept`, `/decline`, `/block`, `/gif <file>`).
// A line starting with `/` is never sent as text unless it starts with `//` (which sends it
// with one `/` less).

/** What the user asked for with one line of input. */
export type ChatInput =
  | { kind: 'send'; text: string }
  | { kind: 'help' }
  | { kind: 'add'; uri: string }
  | { kind: 'name'; name: string }
  | { kind: 'accept'; name?: string }
  | { kind: 'decline' }
  | { kind: 'block' }
  | { kind: 'gif'; path: string }
  /** A command with a missing argument, or one that does not exist: `message` says why. */
  | { kind: 'invalid'; message: string }

/** The commands, for the help overlay: usage and what it does. */
export const CHAT_COMMANDS: ReadonlyArray<readonly [string, string]> = [
  ['/help', 'this help (so does ? on an empty line)'],
  ['/add <uri>', 'add a contact from its passage: URI or text ID'],
  ['/name <new name>', 'rename the open contact (a request: accept it under that name)'],
  ['/accept [name]', 'accept the open contact request (so does Ctrl+Y)'],
  ['/decline', 'delete the open contact request and its messages'],
  ['/block', 'block the open contact or request: its messages are dropped'],
  ['/gif <file>', 'send a GIF (8 MiB at most), shown animated'],
  ['//text', 'sends a text that starts with /'],
]

/** The chat screen's keys and what they do (the help overlay and `passage chat --help`). */
export function chatKeys(arrows = '↑/↓'): ReadonlyArray<readonly [string, string]> {
  return [
    ['Enter', 'send'],
    ['Alt+Enter', 'new line (a pasted text keeps its lines)'],
    [`Tab, ${arrows}`, 'next / previous contact'],
    ['PgUp/PgDn', 'scroll the conversation'],
    ['Ctrl+Y', 'accept the open contact request'],
    ['Ctrl+U', 'clear the line'],
    ['?', 'this help, on an empty line'],
    ['Esc', 'close this help; quit (asks first if you wrote something)'],
  ]
}

/** What each delivery mark after one of your messages means. */
export const MARK_WORDS: ReadonlyArray<readonly [DeliveryState, string]> = [
  ['pending', 'waiting in the outbox'],
  ['sent', 'sent over a direct link'],
  ['stored', 'stored in their mailbox'],
  ['delivered', 'delivered to their device'],
  ['read', 'read'],
]

/** The legend of the delivery marks, `marks` being the theme's: "✓ sent over a direct link"… */
export function markLegend(marks: Readonly<Record<DeliveryState, string>>): string[] {
  // A mark that spells its own word ("✓✓ read") is not followed by it again.
  return MARK_WORDS.map(([state, words]) =>
    marks[state].endsWith(words) ? marks[state] : `${marks[state]} ${words}`,
  )
}

/** Reads one submitted line. */
export function parseChatInput(line: string): ChatInput {
  if (!line.startsWith('/')) return { kind: 'send', text: line }
  if (line.startsWith('//')) return { kind: 'send', text: line.slice(1) }
  const match = /^\/(\S*)\s*([\s\S]*)$/.exec(line.trim())!
  const name = match[1]!.toLowerCase()
  const argument = match[2]!.trim()
  switch (name) {
    case 'help':
    case '?':
      return { kind: 'help' }
    case 'add':
      return argument === ''
        ? { kind: 'invalid', message: '/add needs a contact: /add passage://… (their URI)' }
        : { kind: 'add', uri: argument }
    case 'name':
    case 'rename':
      return argument === ''
        ? { kind: 'invalid', message: '/name needs the new name: /name Alice Smith' }
        : { kind: 'name', name: argument }
    case 'accept':
      return argument === '' ? { kind: 'accept' } : { kind: 'accept', name: argument }
    case 'decline':
      return { kind: 'decline' }
    case 'block':
      return { kind: 'block' }
    case 'gif':
      return argument === ''
        ? { kind: 'invalid', message: '/gif needs a file: /gif ~/cat.gif' }
        : { kind: 'gif', path: argument }
    default:
      return {
        kind: 'invalid',
        message: `/${name} is not a command: /help lists them (start with // to send a text beginning with /)`,
      }
  }
}
