import {
  MalformedError,
  PassageError,
  TimeoutError,
  type ChatContact,
  type ChatMessage,
  type ChatRequest,
} from '@passage/sdk'
import type { CliIo } from '../cli-io.js'
import { ExitCode } from '../exit-code.js'
import {
  claimedLabel,
  contactLabel,
  messageJson,
  messageText,
  messageTime,
  shortId,
} from '../format.js'
import { themeFor } from '../ui/theme.js'
import { withClient, type ClientCommandOptions } from '../open-client.js'
import { joinedDht, offlineError, warnUnreachable } from '../reachability.js'
import { style } from '../style.js'

/** How long `passage inbox` may take to fetch the mailbox by default. */
const INBOX_TIMEOUT_MS = 30_000 // 30 s: a DHT lookup plus fetches from k replicas

export interface InboxOptions extends ClientCommandOptions {
  json?: boolean
  timeout?: string
}

/**
 * `passage inbox [--json]`: fetches the DHT mailbox once, prints the new messages (oldest
 * first) and exits; messages that came over a direct link meanwhile are printed too.
 * Non-interactive: for scripts and cron.
 */
export async function inboxCommand(options: InboxOptions, io: CliIo): Promise<ExitCode> {
  const timeoutMs = options.timeout === undefined ? INBOX_TIMEOUT_MS : Number(options.timeout)
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    throw new MalformedError(`--timeout is in milliseconds, got ${options.timeout}`)
  }
  const { messages, names, groups, requests, offline } = await withClient(
    options,
    io,
    { background: false },
    async (client) => {
      // Messages that came over a direct link while fetching are new too.
      const live: ChatMessage[] = []
      const off = client.on('message', (message) => live.push(message))
      let fetched: ChatMessage[]
      try {
        const signal = AbortSignal.timeout(timeoutMs)
        fetched = await client.fetchInbox({ signal }).catch((error: unknown) => {
          if (signal.aborted && !(error instanceof PassageError)) {
            throw new TimeoutError(`the mailbox could not be fetched within ${timeoutMs} ms`)
          }
          throw error
        })
      } finally {
        off()
      }
      // The mailbox's messages in the order fetchInbox gives (oldest first), then any that
      // came over a direct link meanwhile.
      const ids = new Set(fetched.map((m) => m.id))
      const messages = [...fetched, ...live.filter((m) => !ids.has(m.id))]
      const names = new Map((await client.contacts.list()).map((c) => [c.id, c]))
      const groups = new Map((await client.groups.list()).map((g) => [g.id, g.name]))
      const requests = new Map((await client.requests.list()).map((r) => [r.id, r]))
      // Never joined the DHT: the mailbox was not fetched, which is not "no new messages".
      const offline = joinedDht(client)
        ? undefined
        : offlineError(client, 'the mailbox was not fetched')
      if (!offline) {
        // What earlier runs left in the outbox goes out now, not after its retry delay.
        await client
          .flushOutbox({ signal: AbortSignal.timeout(timeoutMs), all: true })
          .catch(() => 0)
        warnUnreachable(client, io)
      }
      return { messages, names, groups, requests, offline }
    },
  )
  if (options.json) {
    const json = messages.map((m) => messageJson(m, names.get(m.contactId)))
    io.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
    if (offline) throw offline
    return ExitCode.ok
  }
  const s = style(io)
  if (offline) {
    // What came over a direct link meanwhile is shown, then the failure.
    printMessages(messages, names, groups, requests, io)
    throw offline
  }
  if (messages.length === 0) {
    io.stdout.write(s.dim('No new messages.\n'))
    return ExitCode.ok
  }
  printMessages(messages, names, groups, requests, io)
  return ExitCode.ok
}

function printMessages(
  messages: ChatMessage[],
  names: Map<string, ChatContact>,
  groups: Map<string, string>,
  requests: Map<string, ChatRequest>,
  io: CliIo,
): void {
  const s = style(io)
  let fromRequests = false
  const ascii = themeFor(io.env).ascii
  for (const m of messages) {
    // A group's message: "# group · sender", the sender by its contact name when it is one.
    const sender = names.get(m.sender.account)
    const who = sender ? contactLabel(sender) : shortId(m.sender.account)
    const group = groups.get(m.contactId)
    const contact = names.get(m.contactId)
    const request = requests.get(m.contactId)
    fromRequests ||= request !== undefined
    // A stranger's name is only a claim: `~Alice? (request)`, never like a contact's.
    const from =
      group !== undefined
        ? `# ${group} · ${who}`
        : contact
          ? contactLabel(contact)
          : request
            ? `${claimedLabel(request)} (request)`
            : shortId(m.contactId)
    io.stdout.write(`${s.dim(messageTime(m.sentAt))}  ${s.bold(from)}: ${messageText(m, ascii)}\n`)
  }
  if (fromRequests) {
    io.stdout.write(
      s.dim(
        'Messages from people who are not your contacts: passage requests (accept, decline, block)\n',
      ),
    )
  }
}
