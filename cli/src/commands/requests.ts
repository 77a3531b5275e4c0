import { acceptRequest } from '../accept-request.js'
import type { CliIo } from '../cli-io.js'
import { ExitCode } from '../exit-code.js'
import { blockedJson, claimedLabel, contactJson, requestJson } from '../format.js'
import { withClient, type ClientCommandOptions } from '../open-client.js'
import { resolveAccount, resolveBlocked, resolveRequest } from '../resolve-account.js'
import { style } from '../style.js'
import { columns } from '../columns.js'
import { truncate } from '../ui/wrap.js'

/** How much of a request's last message the list shows, in columns. */
const PREVIEW_COLUMNS = 40

export interface RequestsOptions extends Pick<ClientCommandOptions, 'home'> {
  json?: boolean
}

export interface AcceptOptions extends RequestsOptions {
  name?: string
}

/**
 * `passage requests [--json]`: messages from accounts that are not contacts wait here, each
 * with the name it claims (shown `~Name?`: a claim, not an identity), its unread count and its
 * last message. Reads the home only.
 */
export async function requestsListCommand(options: RequestsOptions, io: CliIo): Promise<ExitCode> {
  const requests = await withClient(options, io, { network: false }, (client) =>
    client.requests.list(),
  )
  if (options.json) {
    io.stdout.write(`${JSON.stringify(requests.map(requestJson), null, 2)}\n`)
    return ExitCode.ok
  }
  const s = style(io)
  if (requests.length === 0) {
    io.stdout.write('No contact requests.\n')
    return ExitCode.ok
  }
  const rows = [
    ['CLAIMS TO BE', 'ID', 'UNREAD', 'LAST MESSAGE'],
    ...requests.map((r) => [
      r.claimedName !== undefined ? claimedLabel(r) : '(no name)',
      r.textId,
      String(r.unread),
      truncate((r.lastMessage?.text ?? '').replace(/\s+/g, ' '), PREVIEW_COLUMNS, '…'),
    ]),
  ]
  io.stdout.write(columns(rows, (line, i) => (i === 0 ? s.dim(line) : line)))
  io.stdout.write(
    s.dim(
      'Names with ~…? are what the sender claims. Accept: passage requests accept <id> [--name N]; decline: passage requests decline <id>; block: passage block <id>\n',
    ),
  )
  return ExitCode.ok
}

/**
 * `passage requests accept <id> [--name N]`: the request becomes a contact with its history.
 * Without `--name`, it is named what it claims unless a contact already has that name (then it
 * stays unnamed, and the command says how to name it).
 */
export async function requestsAcceptCommand(
  text: string,
  options: AcceptOptions,
  io: CliIo,
): Promise<ExitCode> {
  const s = style(io)
  const { contact, clash } = await withClient(options, io, { network: false }, async (client) => {
    const request = await resolveRequest(client, text)
    return acceptRequest(client, request, options.name)
  })
  if (options.json) {
    io.stdout.write(`${JSON.stringify(contactJson(contact), null, 2)}\n`)
    return ExitCode.ok
  }
  io.stdout.write(
    `${s.green('Accepted')} ${contact.name ? `${s.bold(contact.name)} ` : ''}${contact.textId}\n`,
  )
  if (clash) {
    io.stdout.write(
      `It claims a name one of your contacts already has, so it has none here; name it with ${s.bold(`passage contacts add ${contact.textId} --name <name>`)}\n`,
    )
  }
  return ExitCode.ok
}

/** `passage requests decline <id>`: the request and its messages are deleted. */
export async function requestsDeclineCommand(
  text: string,
  options: RequestsOptions,
  io: CliIo,
): Promise<ExitCode> {
  const request = await withClient(options, io, { network: false }, async (client) => {
    const request = await resolveRequest(client, text)
    await client.requests.decline(request.id)
    return request
  })
  io.stdout.write(
    `Declined ${claimedLabel(request)} (${request.textId}); its messages are deleted. A new message from it makes a new request; to stop that: passage block ${request.textId}\n`,
  )
  return ExitCode.ok
}

/**
 * `passage block [contact] [--json]`: blocks a contact, a request or a group member (by name,
 * text ID or prefix): its messages are dropped unread and it gets no receipts. Without an
 * argument, lists the blocked accounts with how many messages were dropped.
 */
export async function blockCommand(
  text: string | undefined,
  options: RequestsOptions,
  io: CliIo,
): Promise<ExitCode> {
  const s = style(io)
  if (text === undefined) {
    const blocked = await withClient(options, io, { network: false }, (client) =>
      client.contacts.blocked(),
    )
    if (options.json) {
      io.stdout.write(`${JSON.stringify(blocked.map(blockedJson), null, 2)}\n`)
      return ExitCode.ok
    }
    if (blocked.length === 0) {
      io.stdout.write('Nobody is blocked.\n')
      return ExitCode.ok
    }
    const rows = [
      ['NAME', 'ID', 'DROPPED'],
      ...blocked.map((b) => [b.name ?? claimedLabel(b), b.textId, String(b.dropped)]),
    ]
    io.stdout.write(columns(rows, (line, i) => (i === 0 ? s.dim(line) : line)))
    return ExitCode.ok
  }
  const who = await withClient(options, io, { network: false }, async (client) => {
    const who = await resolveAccount(client, text)
    await client.contacts.block(who.id)
    return who
  })
  io.stdout.write(
    `${s.red('Blocked')} ${who.label}: its messages are dropped unread and it gets no receipts. Undo with ${s.bold(`passage unblock ${who.id}`)}\n`,
  )
  return ExitCode.ok
}

/** `passage unblock <contact>`: a blocked contact is a contact again, a stranger a request. */
export async function unblockCommand(
  text: string,
  options: RequestsOptions,
  io: CliIo,
): Promise<ExitCode> {
  const account = await withClient(options, io, { network: false }, async (client) => {
    const account = await resolveBlocked(client, text)
    await client.contacts.unblock(account.id)
    return account
  })
  const label = account.name ?? claimedLabel(account)
  io.stdout.write(
    `Unblocked ${label} (${account.textId})${account.contact ? '' : '; its next message is a contact request'}. Messages dropped while it was blocked do not come back.\n`,
  )
  return ExitCode.ok
}
