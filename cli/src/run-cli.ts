import { readFileSync } from 'node:fs'
import { Command, Option } from 'commander'
import type { CliIo } from './cli-io.js'
import { CHAT_COMMANDS, chatKeys, markLegend } from './ui/chat-commands.js'
// Only types at the top: each command's module (and the SDK, SQLite, libsignal, Ink behind
// it) is imported when that command runs, so `passage id` does not load the chat screen.
import type { attachmentsSaveCommand } from './commands/attachments.js'
import type { chatCommand } from './commands/chat.js'
import type { contactsAddCommand } from './commands/contacts.js'
import type { contactsListCommand } from './commands/contacts-list.js'
import type { AcceptOptions, RequestsOptions } from './commands/requests.js'
import type { GroupOptions } from './commands/group.js'
import type { idCommand } from './commands/id.js'
import type { inboxCommand } from './commands/inbox.js'
import type { initCommand } from './commands/init.js'
import type { peersCommand } from './commands/peers.js'
import type { sendCommand } from './commands/send.js'
import type { statusCommand } from './commands/status.js'
import type { ServersOptions } from './commands/servers.js'
import type { HistoryOptions } from './commands/history.js'
import type { OutboxOptions } from './commands/outbox.js'
import type {
  devicesLinkCommand,
  devicesListCommand,
  devicesRecoveryCodeCommand,
  devicesRenameCommand,
  devicesRevokeCommand,
} from './commands/devices.js'
import { ExitCode } from './exit-code.js'
import { style } from './style.js'
import { themeFor } from './ui/theme.js'

/** The package version, read from cli/package.json (one level up from src/ and dist/). */
function version(): string {
  const json = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version?: string
  }
  return json.version ?? '0.0.0'
}

/** `passage chat --help`'s keys and marks, in the marks this terminal gets. */
function chatHelp(io: CliIo): string {
  const theme = themeFor(io.env)
  const keys = chatKeys(theme.ascii ? 'Up/Down' : '↑/↓')
  const width = Math.max(...keys.map(([k]) => k.length))
  const marks = markLegend(theme.marks)
  return `
Keys:
${keys.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n')}

Commands (typed in the input line; nothing starting with / is sent, // sends one /):
${CHAT_COMMANDS.map(([usage, what]) => `  ${usage}: ${what}`).join('\n')}

Marks:
  ${theme.online} online, ${theme.offline} offline (in the contact list)
  after your messages: ${marks.join(', ')}
`
}

/**
 * An option whose default is a number: `--help` shows `(default: 5000)`, not `"5000"`. The
 * command gets the number, or the text typed (each command checks it).
 */
function number(flags: string, description: string, value: number): Option {
  return new Option(flags, description).default(value)
}

/**
 * Runs `passage` with `args` (without `node` and the script) and returns the exit code.
 * Nothing here calls `process.exit`, so tests run it in-process with captured output.
 */
export async function runCli(args: readonly string[], io: CliIo): Promise<ExitCode> {
  let code: ExitCode = ExitCode.ok
  const homeHelp = 'home folder (default: $PASSAGE_HOME or ~/.passage)'
  const program = new Command('passage')
    .description('Passage: decentralized, end-to-end encrypted messaging from the terminal')
    .version(version(), '-V, --version')
    .exitOverride()
    .showHelpAfterError('(run passage --help for usage)')
    .configureOutput({
      writeOut: (text) => void io.stdout.write(text),
      writeErr: (text) => void io.stderr.write(text),
      outputError: (text, write) => write(style(io, io.stderr).red(text)),
    })

  const serverHelp = 'a super-node, repeatable (default: $PASSAGE_SERVERS, then those remembered)'
  const collect = (value: string, previous: string[] = []) => [...previous, value]

  program
    .command('init')
    .description('create your identity (or link this home to your account, or recover it)')
    .option('--home <dir>', homeHelp)
    .option('--force', 'replace an existing identity (the old one is lost for good)')
    .option('--name <name>', 'a display name (with --link: this device’s name)')
    .option('--link', 'make this home a new device of your account: shows a code to approve')
    .option('--recover [code]', 'restore your first device from its recovery code (pr1…)')
    .option('--server <url>', 'a super-node to remember in the new home, repeatable', collect)
    .addOption(number('--timeout <s>', 'with --link: how long to wait for the approval', 600))
    .option('--json', 'print JSON instead of text and QR code')
    .action(
      async (
        options: Parameters<typeof initCommand>[0] & {
          link?: boolean
          recover?: string | true
          server?: string[]
          timeout?: string
        },
      ) => {
        if (options.link && options.recover !== undefined) {
          const { MalformedError } = await import('@passage/sdk')
          throw new MalformedError('--link and --recover do not go together')
        }
        if (options.link)
          code = await (await import('./commands/init-device.js')).initLinkCommand(options, io)
        else if (options.recover !== undefined) {
          const given = options.recover === true ? undefined : options.recover
          code = await (
            await import('./commands/init-device.js')
          ).initRecoverCommand(given, options, io)
        } else code = await (await import('./commands/init.js')).initCommand(options, io)
      },
    )

  program
    .command('id')
    .description('show your identity')
    .option('--home <dir>', homeHelp)
    .option('--qr', 'also show the QR code of your passage: URI')
    .option('--uri', 'print only your passage: URI (to give to passage contacts add)')
    .option('--json', 'print JSON')
    .action(async (options: Parameters<typeof idCommand>[0]) => {
      code = await (await import('./commands/id.js')).idCommand(options, io)
    })

  program
    .command('status')
    .description("show a super-node's identity, health, readiness and live peers")
    .option(
      '--server <url>',
      'the super-node, e.g. http://127.0.0.1:8080 (default: $PASSAGE_SERVERS)',
    )
    .addOption(number('--timeout <ms>', 'how long to wait for each answer', 5000))
    .option('--json', 'print JSON')
    .action(async (options: Parameters<typeof statusCommand>[0]) => {
      code = await (await import('./commands/status.js')).statusCommand(options, io)
    })

  const contacts = program.command('contacts').description('add, list and remove your contacts')
  contacts
    .command('add')
    .description('add a contact from its text ID (p1…) or its passage: URI')
    .argument('<id-or-uri>', 'a text ID (its key is looked up on the network) or a passage: URI')
    .option('--name <name>', 'the name to show for it')
    .option('--home <dir>', homeHelp)
    .option('--server <url>', serverHelp, collect)
    .option('--json', 'print JSON')
    .action(async (idOrUri: string, options: Parameters<typeof contactsAddCommand>[1]) => {
      code = await (await import('./commands/contacts.js')).contactsAddCommand(idOrUri, options, io)
    })
  contacts
    .command('list')
    .description('list your contacts with unread counts')
    .option('--home <dir>', homeHelp)
    .option('--json', 'print JSON')
    .action(async (options: Parameters<typeof contactsListCommand>[0]) => {
      code = await (await import('./commands/contacts-list.js')).contactsListCommand(options, io)
    })
  contacts
    .command('remove')
    .description('remove a contact (its history stays; a new message from it is a request)')
    .argument('<contact>', 'a name, a text ID or a unique prefix')
    .option('--home <dir>', homeHelp)
    .action(async (contact: string, options: RequestsOptions) => {
      code = await (
        await import('./commands/contacts.js')
      ).contactsRemoveCommand(contact, options, io)
    })

  const requests = program
    .command('requests')
    .description('messages from people who are not your contacts: list, accept, decline')
  requests
    .command('list', { isDefault: true })
    .description('list contact requests (~Name? is the name they claim)')
    .option('--home <dir>', homeHelp)
    .option('--json', 'print JSON')
    .action(async (options: RequestsOptions) => {
      code = await (await import('./commands/requests.js')).requestsListCommand(options, io)
    })
  requests
    .command('accept')
    .description('make a request a contact, with its messages')
    .argument('<request>', 'its text ID, a unique prefix, or the name it claims')
    .option('--name <name>', 'the name to show for it (default: the one it claims, if free)')
    .option('--home <dir>', homeHelp)
    .option('--json', 'print JSON')
    .action(async (request: string, options: AcceptOptions) => {
      code = await (
        await import('./commands/requests.js')
      ).requestsAcceptCommand(request, options, io)
    })
  requests
    .command('decline')
    .description('delete a request and its messages')
    .argument('<request>', 'its text ID, a unique prefix, or the name it claims')
    .option('--home <dir>', homeHelp)
    .action(async (request: string, options: RequestsOptions) => {
      code = await (
        await import('./commands/requests.js')
      ).requestsDeclineCommand(request, options, io)
    })

  program
    .command('block')
    .description('drop every message of a contact, request or group member; no argument: list')
    .argument('[contact]', 'a name, a text ID or a unique prefix')
    .option('--home <dir>', homeHelp)
    .option('--json', 'print JSON (the list)')
    .action(async (contact: string | undefined, options: RequestsOptions) => {
      code = await (await import('./commands/requests.js')).blockCommand(contact, options, io)
    })
  program
    .command('unblock')
    .description('stop dropping the messages of a blocked account')
    .argument('<contact>', 'a name, a text ID or a unique prefix')
    .option('--home <dir>', homeHelp)
    .action(async (contact: string, options: RequestsOptions) => {
      code = await (await import('./commands/requests.js')).unblockCommand(contact, options, io)
    })

  const devices = program
    .command('devices')
    .description("your account's devices: list, link, revoke, rename")
  devices
    .command('list', { isDefault: true })
    .description('list your devices')
    .option('--home <dir>', homeHelp)
    .option('--json', 'print JSON')
    .action(async (options: Parameters<typeof devicesListCommand>[0]) => {
      code = await (await import('./commands/devices.js')).devicesListCommand(options, io)
    })
  devices
    .command('link')
    .description('on your first device: link the device that shows this passage-link: URI')
    .argument('<uri>', 'the passage-link: URI (its QR code) shown by passage init --link')
    .option('--name <name>', 'what to call the new device')
    .option('--history', 'also send your message history (over a direct link only)')
    .option('--yes', 'the codes were compared: do not ask')
    .option('--home <dir>', homeHelp)
    .option('--server <url>', serverHelp, collect)
    .option('--json', 'print JSON')
    .action(async (uri: string, options: Parameters<typeof devicesLinkCommand>[1]) => {
      code = await (await import('./commands/devices.js')).devicesLinkCommand(uri, options, io)
    })
  devices
    .command('revoke')
    .description('on your first device: revoke a device (it gets nothing new, is refused)')
    .argument('<id>', 'the device ID (passage devices list)')
    .option('--yes', 'do not ask')
    .option('--home <dir>', homeHelp)
    .option('--server <url>', serverHelp, collect)
    .option('--json', 'print JSON')
    .action(async (id: string, options: Parameters<typeof devicesRevokeCommand>[1]) => {
      code = await (await import('./commands/devices.js')).devicesRevokeCommand(id, options, io)
    })
  devices
    .command('rename')
    .description('on your first device: rename a device')
    .argument('<id>', 'the device ID (passage devices list)')
    .argument('<name...>', 'its new name')
    .option('--home <dir>', homeHelp)
    .option('--server <url>', serverHelp, collect)
    .option('--json', 'print JSON')
    .action(
      async (id: string, name: string[], options: Parameters<typeof devicesRenameCommand>[2]) => {
        code = await (
          await import('./commands/devices.js')
        ).devicesRenameCommand(id, name, options, io)
      },
    )
  const group = program
    .command('group')
    .description(
      'group conversations: create, list, info, add, remove, leave, promote, demote, send',
    )
  const groupCommand = (name: string, description: string) =>
    group
      .command(name)
      .description(description)
      .option('--home <dir>', homeHelp)
      .option('--server <url>', serverHelp, collect)
      .option('--json', 'print JSON')
  groupCommand('create', 'make a group you own with these contacts')
    .argument('<name>', 'its name')
    .argument('[contacts...]', 'its members: names, text IDs or unique prefixes')
    .action(async (name: string, members: string[], options: GroupOptions) => {
      code = await (
        await import('./commands/group.js')
      ).groupCreateCommand(name, members, options, io)
    })
  group
    .command('list', { isDefault: true })
    .description('list your groups')
    .option('--home <dir>', homeHelp)
    .option('--json', 'print JSON')
    .action(async (options: GroupOptions) => {
      code = await (await import('./commands/group.js')).groupListCommand(options, io)
    })
  group
    .command('info')
    .description("a group's members and roles")
    .argument('<group>', 'its name, ID (g1…) or a unique prefix')
    .option('--home <dir>', homeHelp)
    .option('--json', 'print JSON')
    .action(async (g: string, options: GroupOptions) => {
      code = await (await import('./commands/group.js')).groupInfoCommand(g, options, io)
    })
  groupCommand('add', 'owner or admin: add contacts to a group')
    .argument('<group>', 'its name, ID (g1…) or a unique prefix')
    .argument('<contacts...>', 'names, text IDs or unique prefixes')
    .action(async (g: string, members: string[], options: GroupOptions) => {
      code = await (await import('./commands/group.js')).groupAddCommand(g, members, options, io)
    })
  groupCommand('remove', 'owner or admin: remove members (they read nothing sent afterwards)')
    .argument('<group>', 'its name, ID (g1…) or a unique prefix')
    .argument('<members...>', 'contact names, text IDs or unique prefixes')
    .action(async (g: string, members: string[], options: GroupOptions) => {
      code = await (await import('./commands/group.js')).groupRemoveCommand(g, members, options, io)
    })
  groupCommand('leave', 'leave a group (its history stays here)')
    .argument('<group>', 'its name, ID (g1…) or a unique prefix')
    .action(async (g: string, options: GroupOptions) => {
      code = await (await import('./commands/group.js')).groupLeaveCommand(g, options, io)
    })
  groupCommand('promote', 'owner: make a member an admin')
    .argument('<group>', 'its name, ID (g1…) or a unique prefix')
    .argument('<member>', 'a contact name, text ID or unique prefix')
    .action(async (g: string, member: string, options: GroupOptions) => {
      code = await (
        await import('./commands/group.js')
      ).groupRoleCommand('admin', g, member, options, io)
    })
  groupCommand('demote', 'owner: make an admin a member')
    .argument('<group>', 'its name, ID (g1…) or a unique prefix')
    .argument('<member>', 'a contact name, text ID or unique prefix')
    .action(async (g: string, member: string, options: GroupOptions) => {
      code = await (
        await import('./commands/group.js')
      ).groupRoleCommand('member', g, member, options, io)
    })
  groupCommand('send', 'send a text to a group (for scripts); prints the state reached')
    .argument('<group>', 'its name, ID (g1…) or a unique prefix')
    .argument('<text...>', 'the message (several words are joined by spaces)')
    .action(async (g: string, words: string[], options: GroupOptions) => {
      code = await (await import('./commands/group.js')).groupSendCommand(g, words, options, io)
    })

  devices
    .command('recovery-code')
    .description('on your first device: show the recovery code again')
    .option('--home <dir>', homeHelp)
    .action(async (options: Parameters<typeof devicesRecoveryCodeCommand>[0]) => {
      code = await (await import('./commands/devices.js')).devicesRecoveryCodeCommand(options, io)
    })

  const servers = program
    .command('servers')
    .description('the super-nodes this home remembers: list, add, remove')
  servers
    .command('list', { isDefault: true })
    .description('list the remembered super-nodes')
    .option('--home <dir>', homeHelp)
    .option('--json', 'print JSON')
    .action(async (options: ServersOptions) => {
      code = await (await import('./commands/servers.js')).serversListCommand(options, io)
    })
  servers
    .command('add')
    .description('remember super-nodes (as --server does)')
    .argument('<url...>', 'e.g. http://127.0.0.1:8080 (http:// may be omitted)')
    .option('--home <dir>', homeHelp)
    .action(async (urls: string[], options: ServersOptions) => {
      code = await (await import('./commands/servers.js')).serversAddCommand(urls, options, io)
    })
  servers
    .command('remove')
    .description('forget super-nodes (a wrong URL is then no longer tried)')
    .argument('<url...>', 'as passage servers list shows it')
    .option('--home <dir>', homeHelp)
    .action(async (urls: string[], options: ServersOptions) => {
      code = await (await import('./commands/servers.js')).serversRemoveCommand(urls, options, io)
    })

  program
    .command('send')
    .description('send a message, a GIF or a file (for scripts); prints the delivery state reached')
    .argument('<contact>', 'a name, a text ID, or a unique prefix of either')
    .argument('[text...]', 'the message (several words are joined by spaces)')
    .option('--gif <file>', 'send a GIF (shown animated in passage chat), 8 MiB at most')
    .option('--file <file>', 'send any file, 8 MiB at most')
    .option('--caption <text>', 'with --gif or --file: the text shown with it')
    .option('--home <dir>', homeHelp)
    .option('--server <url>', serverHelp, collect)
    .addOption(number('--timeout <ms>', 'how long to wait for the first delivery attempt', 30_000))
    .option('--json', 'print JSON')
    .action(
      async (contact: string, words: string[], options: Parameters<typeof sendCommand>[2]) => {
        code = await (await import('./commands/send.js')).sendCommand(contact, words, options, io)
      },
    )

  program
    .command('attachments')
    .description("save a message's GIF or file")
    .command('save')
    .description("save a message's attachment (fetched first when it is not here yet)")
    .argument('<message>', 'the message ID, or a unique prefix of it (passage history shows it)')
    .argument('[path]', 'where to write it (default: its file name, in this folder)')
    .option('--force', 'replace a file that is there')
    .option('--home <dir>', homeHelp)
    .option('--server <url>', serverHelp, collect)
    .addOption(number('--timeout <ms>', 'how long the fetch may take', 120_000))
    .option('--json', 'print JSON')
    .action(
      async (
        message: string,
        path: string | undefined,
        options: Parameters<typeof attachmentsSaveCommand>[2],
      ) => {
        code = await (
          await import('./commands/attachments.js')
        ).attachmentsSaveCommand(message, path, options, io)
      },
    )

  program
    .command('inbox')
    .description('fetch your mailbox and print new messages')
    .option('--home <dir>', homeHelp)
    .option('--server <url>', serverHelp, collect)
    .addOption(number('--timeout <ms>', 'how long the fetch may take', 30_000))
    .option('--json', 'print JSON')
    .action(async (options: Parameters<typeof inboxCommand>[0]) => {
      code = await (await import('./commands/inbox.js')).inboxCommand(options, io)
    })

  program
    .command('outbox')
    .description('list the messages waiting to go out (they go on the next online command)')
    .option('--home <dir>', homeHelp)
    .option('--json', 'print JSON')
    .action(async (options: OutboxOptions) => {
      code = await (await import('./commands/outbox.js')).outboxCommand(options, io)
    })

  program
    .command('history')
    .description('show a conversation: its newest messages, with delivery states')
    .argument('<contact>', 'a name, a text ID, or a unique prefix of either')
    .addOption(number('--limit <n>', 'how many messages, newest (1 to 1000)', 50))
    .option('--home <dir>', homeHelp)
    .option('--json', 'print JSON')
    .action(async (contact: string, options: HistoryOptions) => {
      code = await (await import('./commands/history.js')).historyCommand(contact, options, io)
    })

  program
    .command('peers')
    .description('show peers on the LAN and those the super-nodes list')
    .option('--home <dir>', homeHelp)
    .option('--server <url>', serverHelp, collect)
    .option('--lan-wait <ms>', 'how long to listen for LAN beacons')
    .option('--json', 'print JSON')
    .action(async (options: Parameters<typeof peersCommand>[0]) => {
      code = await (await import('./commands/peers.js')).peersCommand(options, io)
    })

  program
    .command('chat')
    .description('the chat screen: contacts, conversation, live messages')
    .argument('[contact]', 'the contact to open first: a name, a text ID or a unique prefix')
    .option('--home <dir>', homeHelp)
    .option('--server <url>', serverHelp, collect)
    .option('--no-bell', 'no terminal bell on incoming messages')
    .option('--no-animate', 'GIFs show their first frame only')
    .addHelpText('after', () => chatHelp(io))
    .action(async (contact: string | undefined, options: Parameters<typeof chatCommand>[1]) => {
      code = await (await import('./commands/chat.js')).chatCommand(contact, options, io)
    })

  try {
    await program.parseAsync(args, { from: 'user' })
    return code
  } catch (error) {
    // Loaded only on failure: it knows every SDK error class.
    const { reportError } = await import('./report-error.js')
    return reportError(error, io)
  }
}
