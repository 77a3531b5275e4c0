import { MalformedError } from '@passage/sdk'
import type { CliIo } from '../cli-io.js'
import { ExitCode } from '../exit-code.js'
import { contactLabel, messageJson, messageText, messageTime } from '../format.js'
import { themeFor } from '../ui/theme.js'
import { withClient, type ClientCommandOptions } from '../open-client.js'
import { resolveContact } from '../resolve-contact.js'
import { style } from '../style.js'

/** How many messages `passage history` shows by default: a screenful. */
const DEFAULT_HISTORY = 50
/** The most the SDK gives in one page. */
const MAX_HISTORY = 1000

export interface HistoryOptions extends Pick<ClientCommandOptions, 'home'> {
  json?: boolean
  limit?: string
}

/**
 * `passage history <contact> [--limit N] [--json]`: a conversation's newest messages, oldest
 * first, each outgoing one with its delivery state. Reads the home only: no network.
 */
export async function historyCommand(
  contactText: string,
  options: HistoryOptions,
  io: CliIo,
): Promise<ExitCode> {
  const limit = options.limit === undefined ? DEFAULT_HISTORY : Number(options.limit)
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_HISTORY) {
    throw new MalformedError(
      `--limit is a number of messages, 1 to ${MAX_HISTORY}, got ${options.limit}`,
    )
  }
  const { contact, messages } = await withClient(
    options,
    io,
    { network: false },
    async (client) => {
      const contact = await resolveContact(client, contactText)
      return { contact, messages: await client.history(contact.id, { limit }) }
    },
  )
  if (options.json) {
    const json = messages.map((m) => messageJson(m, contact))
    io.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
    return ExitCode.ok
  }
  const s = style(io)
  const ascii = themeFor(io.env).ascii
  if (messages.length === 0) {
    io.stdout.write(s.dim(`No messages with ${contactLabel(contact)} yet.\n`))
    return ExitCode.ok
  }
  for (const m of messages) {
    const who = m.direction === 'out' ? 'me' : contactLabel(contact)
    const state = m.direction === 'out' ? `  ${s.dim(`(${m.state})`)}` : ''
    io.stdout.write(
      `${s.dim(messageTime(m.sentAt))}  ${s.bold(who)}: ${messageText(m, ascii)}${state}\n`,
    )
  }
  return ExitCode.ok
}
