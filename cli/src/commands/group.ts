import {
  isGroupId,
  MalformedError,
  NotFoundError,
  PassageError,
  TimeoutError,
  type ChatContact,
  type GroupInfo,
  type PassageClient,
} from '@passage/sdk'
import type { CliIo } from '../cli-io.js'
import { ExitCode } from '../exit-code.js'
import { shortId } from '../format.js'
import { withClient, type ClientCommandOptions } from '../open-client.js'
import { resolveContact } from '../resolve-contact.js'
import { style } from '../style.js'
import { columns } from '../columns.js'

/** How long a group command waits for its changes and texts to leave. */
const GROUP_TIMEOUT_MS = 30_000 // 30 s: DHT lookups, bundles and mailbox puts for every member

export interface GroupOptions extends ClientCommandOptions {
  json?: boolean
}

/** What a group send says it reached. */
const GROUP_STATE_WORDS = {
  pending: 'pending: nothing could take it yet; it stays in the outbox and is retried',
  sent: 'sent over direct links',
  stored: 'stored in the DHT, where every member reads it',
  delivered: 'delivered',
  read: 'read',
} as const

/**
 * The group a user means by `text`: its ID (`g1…`), its name (when one group has it), or a
 * unique prefix of either. Says what to do when nothing or several match.
 */
export async function resolveGroup(client: PassageClient, text: string): Promise<GroupInfo> {
  const wanted = text.trim()
  const all = await client.groups.list()
  if (isGroupId(wanted)) {
    const found = all.find((g) => g.id === wanted.toLowerCase())
    if (found) return found
  }
  const lower = wanted.toLowerCase()
  const byName = all.filter((g) => g.name.toLowerCase() === lower)
  if (byName.length === 1) return byName[0]!
  const candidates =
    byName.length > 1
      ? byName
      : all.filter(
          (g) =>
            lower.length > 0 && (g.id.startsWith(lower) || g.name.toLowerCase().startsWith(lower)),
        )
  if (candidates.length === 1) return candidates[0]!
  if (candidates.length === 0) {
    throw new NotFoundError(
      `no group matches "${wanted}"; see \`passage group list\`, or make one with \`passage group create <name> <contact…>\``,
    )
  }
  const names = candidates.map((g) => `${g.name} (${g.id})`).join(', ')
  throw new MalformedError(`"${wanted}" matches ${candidates.length} groups: ${names}; give its ID`)
}

/** A group as JSON for scripts. */
export function groupJson(group: GroupInfo, names: Map<string, string>) {
  return {
    id: group.id,
    name: group.name,
    revision: group.revision,
    member: group.member,
    role: group.role ?? null,
    members: group.members.map((m) => ({
      account: m.account,
      name: names.get(m.account) ?? null,
      role: m.role,
      me: m.me,
    })),
  }
}

async function contactNames(client: PassageClient): Promise<Map<string, string>> {
  const names = new Map<string, string>()
  for (const c of await client.contacts.list()) if (c.name) names.set(c.textId, c.name)
  return names
}

/** Runs a group change with the network, then waits (bounded) for it to reach the members. */
async function change(
  options: GroupOptions,
  io: CliIo,
  run: (client: PassageClient) => Promise<GroupInfo>,
  done: (group: GroupInfo) => string,
): Promise<ExitCode> {
  const s = style(io)
  return withClient(options, io, { background: false }, async (client) => {
    const group = await run(client)
    await client.flushOutbox({ signal: AbortSignal.timeout(GROUP_TIMEOUT_MS) }).catch(() => 0)
    if (options.json) {
      io.stdout.write(`${JSON.stringify(groupJson(group, await contactNames(client)), null, 2)}\n`)
    } else {
      io.stdout.write(`${s.green('✓')} ${done(group)}\n`)
    }
    if (client.status().outbox > 0 && !options.json) {
      io.stderr.write(
        `Some members could not be reached yet: the change waits in the outbox and goes out on the next run of passage.\n`,
      )
    }
    return ExitCode.ok
  })
}

async function contactsOf(client: PassageClient, texts: string[]): Promise<ChatContact[]> {
  const out: ChatContact[] = []
  for (const t of texts) out.push(await resolveContact(client, t))
  return out
}

export function groupCreateCommand(
  name: string,
  members: string[],
  options: GroupOptions,
  io: CliIo,
): Promise<ExitCode> {
  return change(
    options,
    io,
    async (client) => {
      const contacts = await contactsOf(client, members)
      return client.groups.create(
        name,
        contacts.map((c) => c.id),
      )
    },
    (g) =>
      `Made the group ${g.name} (${g.id}) with ${g.members.length - 1} member${g.members.length === 2 ? '' : 's'} besides you.`,
  )
}

export async function groupListCommand(options: GroupOptions, io: CliIo): Promise<ExitCode> {
  const { groups, names } = await withClient(options, io, { network: false }, async (c) => ({
    groups: await c.groups.list(),
    names: await contactNames(c),
  }))
  if (options.json) {
    io.stdout.write(
      `${JSON.stringify(
        groups.map((g) => groupJson(g, names)),
        null,
        2,
      )}\n`,
    )
    return ExitCode.ok
  }
  if (groups.length === 0) {
    io.stdout.write('No groups yet. Make one with passage group create <name> <contact…>\n')
    return ExitCode.ok
  }
  const s = style(io)
  const rows = groups.map((g) => [
    `# ${g.name}`,
    g.id,
    String(g.members.length),
    g.member ? (g.role ?? '') : 'left',
  ])
  io.stdout.write(
    columns([['NAME', 'ID', 'MEMBERS', 'ROLE'], ...rows], (text, row) =>
      row === 0 ? s.dim(text) : text,
    ),
  )
  return ExitCode.ok
}

export async function groupInfoCommand(
  groupText: string,
  options: GroupOptions,
  io: CliIo,
): Promise<ExitCode> {
  const { group, names } = await withClient(options, io, { network: false }, async (c) => ({
    group: await resolveGroup(c, groupText),
    names: await contactNames(c),
  }))
  if (options.json) {
    io.stdout.write(`${JSON.stringify(groupJson(group, names), null, 2)}\n`)
    return ExitCode.ok
  }
  const s = style(io)
  io.stdout.write(`${s.bold(`# ${group.name}`)}  ${group.id}  revision ${group.revision}\n`)
  if (!group.member) io.stdout.write('You are no longer a member.\n')
  const rows = group.members.map((m) => [
    m.me ? 'you' : (names.get(m.account) ?? shortId(m.account)),
    m.role,
    m.account,
  ])
  io.stdout.write(columns(rows, (text) => text))
  return ExitCode.ok
}

export function groupAddCommand(
  groupText: string,
  members: string[],
  options: GroupOptions,
  io: CliIo,
): Promise<ExitCode> {
  return change(
    options,
    io,
    async (client) => {
      const group = await resolveGroup(client, groupText)
      const contacts = await contactsOf(client, members)
      return client.groups.add(
        group.id,
        contacts.map((c) => c.id),
      )
    },
    (g) => `${g.name} now has ${g.members.length} members.`,
  )
}

export function groupRemoveCommand(
  groupText: string,
  members: string[],
  options: GroupOptions,
  io: CliIo,
): Promise<ExitCode> {
  return change(
    options,
    io,
    async (client) => {
      const group = await resolveGroup(client, groupText)
      const ids = await memberIds(client, group, members)
      return client.groups.remove(group.id, ids)
    },
    (g) =>
      `${g.name} now has ${g.members.length} members; who was removed can read nothing sent from now on.`,
  )
}

export function groupLeaveCommand(
  groupText: string,
  options: GroupOptions,
  io: CliIo,
): Promise<ExitCode> {
  return change(
    options,
    io,
    async (client) => client.groups.leave((await resolveGroup(client, groupText)).id),
    (g) => `You left ${g.name}; its history stays here.`,
  )
}

export function groupRoleCommand(
  role: 'admin' | 'member',
  groupText: string,
  memberText: string,
  options: GroupOptions,
  io: CliIo,
): Promise<ExitCode> {
  return change(
    options,
    io,
    async (client) => {
      const group = await resolveGroup(client, groupText)
      const [id] = await memberIds(client, group, [memberText])
      return role === 'admin'
        ? client.groups.promote(group.id, id!)
        : client.groups.demote(group.id, id!)
    },
    (g) => `Done: ${memberText} is ${role === 'admin' ? 'an admin' : 'a member'} of ${g.name}.`,
  )
}

/** Members by contact name, text ID or prefix; a member who is no contact by its text ID. */
async function memberIds(
  client: PassageClient,
  group: GroupInfo,
  texts: string[],
): Promise<string[]> {
  const out: string[] = []
  for (const text of texts) {
    const direct = group.members.find((m) => m.account === text.trim().toLowerCase())
    if (direct) {
      out.push(direct.account)
      continue
    }
    const contact = await resolveContact(client, text)
    if (!group.members.some((m) => m.account === contact.id)) {
      throw new NotFoundError(`${contact.name ?? contact.id} is not a member of ${group.name}`)
    }
    out.push(contact.id)
  }
  return out
}

/** `passage group send <group> <text…>`: prints the state the message reached. */
export async function groupSendCommand(
  groupText: string,
  words: string[],
  options: GroupOptions,
  io: CliIo,
): Promise<ExitCode> {
  const s = style(io)
  return withClient(options, io, { background: false }, async (client) => {
    const group = await resolveGroup(client, groupText)
    const signal = AbortSignal.timeout(GROUP_TIMEOUT_MS)
    const message = await client.groups
      .send(group.id, words.join(' '), { signal })
      .catch((error: unknown) => {
        if (signal.aborted && !(error instanceof PassageError)) {
          throw new TimeoutError(
            `no delivery to ${group.name} within ${GROUP_TIMEOUT_MS} ms; the message stays in the outbox and goes out on the next run of passage`,
          )
        }
        throw error
      })
    if (message.state !== 'pending') await client.flushOutbox({ signal }).catch(() => 0)
    if (options.json) {
      io.stdout.write(
        `${JSON.stringify({ id: message.id, group: group.id, text: message.text, state: message.state }, null, 2)}\n`,
      )
    } else if (message.state !== 'pending') {
      io.stdout.write(`${s.green('✓')} to # ${group.name}: ${GROUP_STATE_WORDS[message.state]}\n`)
    }
    if (message.state === 'pending') {
      io.stderr.write(
        `${style(io, io.stderr).red('error:')} nothing could take the message to ${group.name} yet; it stays in the outbox and goes out on the next run of passage\n`,
      )
      return ExitCode.unreachable
    }
    return ExitCode.ok
  })
}
