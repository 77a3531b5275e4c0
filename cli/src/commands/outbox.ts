import type { ChatContact, ChatMessage } from '@passage/sdk'
import type { CliIo } from '../cli-io.js'
import { ExitCode } from '../exit-code.js'
import { contactLabel, messageJson, messageTime } from '../format.js'
import { withClient, type ClientCommandOptions } from '../open-client.js'
import { style } from '../style.js'

/** How far back each conversation is searched for waiting messages. */
const OUTBOX_SCAN = 1000 // the SDK's largest history page; waiting messages are recent ones

export interface OutboxOptions extends Pick<ClientCommandOptions, 'home'> {
  json?: boolean
}

/**
 * `passage outbox [--json]`: the messages that nothing took yet (state `pending`), oldest
 * first. They go out on the next command that goes online (`passage inbox`, `send`, `chat`).
 * Reads the home only: no network.
 */
export async function outboxCommand(options: OutboxOptions, io: CliIo): Promise<ExitCode> {
  const waiting = await withClient(options, io, { network: false }, async (client) => {
    const found: Array<{ message: ChatMessage; contact: ChatContact }> = []
    for (const { contact } of await client.conversations()) {
      const history = await client.history(contact.id, { limit: OUTBOX_SCAN })
      for (const message of history) {
        if (message.direction === 'out' && message.state === 'pending') {
          found.push({ message, contact })
        }
      }
    }
    return found.sort((a, b) => a.message.sentAt - b.message.sentAt)
  })
  if (options.json) {
    const json = waiting.map(({ message, contact }) => messageJson(message, contact))
    io.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
    return ExitCode.ok
  }
  const s = style(io)
  if (waiting.length === 0) {
    io.stdout.write(s.dim('The outbox is empty: every message was handed to the network.\n'))
    return ExitCode.ok
  }
  for (const { message, contact } of waiting) {
    io.stdout.write(
      `${s.dim(messageTime(message.sentAt))}  to ${s.bold(contactLabel(contact))}: ${message.text}\n`,
    )
  }
  io.stdout.write(
    s.dim(
      `${waiting.length} waiting; they go out on the next command that goes online (passage inbox)\n`,
    ),
  )
  return ExitCode.ok
}
