// `passage contacts list`: read from the home directly, not through a client (no Kysely, no
// libsignal, not the whole core), so it starts as quickly as `passage id`.
import type { ChatContact } from '@passage/sdk'
import { readHomeContacts } from '@passage/sdk/home'
import type { CliIo } from '../cli-io.js'
import { columns } from '../columns.js'
import { ExitCode } from '../exit-code.js'
import { contactJson } from '../format.js'
import { home } from '../home.js'
import type { ClientCommandOptions } from '../open-client.js'
import { style } from '../style.js'

export interface ContactsListOptions extends ClientCommandOptions {
  json?: boolean
}

/** `passage contacts list [--json]`: name, text ID, online, unread. */
export async function contactsListCommand(
  options: ContactsListOptions,
  io: CliIo,
): Promise<ExitCode> {
  const contacts = await readHomeContacts(home(options.home, io))
  if (options.json) {
    io.stdout.write(`${JSON.stringify(contacts.map(contactJson), null, 2)}\n`)
    return ExitCode.ok
  }
  const s = style(io)
  if (contacts.length === 0) {
    io.stdout.write(
      `No contacts yet. Add one with ${s.bold('passage contacts add <text-id | passage: URI>')}\n`,
    )
    return ExitCode.ok
  }
  io.stdout.write(contactsTable(contacts, s))
  return ExitCode.ok
}

function contactsTable(contacts: ChatContact[], s: ReturnType<typeof style>): string {
  const rows = contacts.map((c) => {
    const seen = c.online
      ? s.green('online')
      : c.lastSeenAt === undefined
        ? s.dim('never')
        : new Date(c.lastSeenAt).toISOString().replace(/\.\d+Z$/, 'Z')
    const flag = c.flagged ? ` ${s.red(`(refused: ${c.flagged})`)}` : ''
    return [c.name ?? '', c.textId, String(c.unread).padStart(6), `${seen}${flag}`]
  })
  // By display width: a CJK or emoji name takes two columns a character.
  return columns([['NAME', 'ID', 'UNREAD', 'SEEN'], ...rows], (line, i) =>
    i === 0 ? s.dim(line) : line,
  )
}
