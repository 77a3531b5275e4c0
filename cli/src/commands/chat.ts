import { MalformedError, NotFoundError, type PassageClient } from '@passage/sdk'
import { render } from 'ink'
import { createElement } from 'react'
import type { CliIo } from '../cli-io.js'
import { ExitCode } from '../exit-code.js'
import { openClient, type ClientCommandOptions } from '../open-client.js'
import { resolveContact } from '../resolve-contact.js'
import { resolveGroup } from './group.js'
import { colorDepthFor } from '../media/half-blocks.js'
import { App } from '../ui/App.js'
import { themeFor } from '../ui/theme.js'

/** The conversation `text` names: a group (its ID, name or prefix) or else a contact. */
async function conversationOf(client: PassageClient, text: string): Promise<{ id: string }> {
  const groups = await client.groups.list()
  const wanted = text.trim().toLowerCase()
  if (groups.some((g) => g.id === wanted || g.name.toLowerCase() === wanted)) {
    return resolveGroup(client, text)
  }
  try {
    return await resolveContact(client, text)
  } catch (error) {
    // Not a contact: a group by a prefix of its name or ID, if one matches.
    if (!(error instanceof NotFoundError)) throw error
    return resolveGroup(client, text).catch(() => {
      throw error
    })
  }
}

/** How often the chat screen fetches the mailbox: often, someone is watching. */
const CHAT_FETCH_INTERVAL_MS = 5_000 // 5 s: offline-sent messages show up quickly

export interface ChatOptions extends ClientCommandOptions {
  /** False (`--no-bell`): no terminal bell on incoming messages. */
  bell?: boolean
  /** False (`--no-animate`): GIFs show their first frame only. */
  animate?: boolean
}

/** The terminal bell: rings on an incoming message (zero width, the screen is not moved). */
const BELL = '\u0007'
// Bracketed paste: the terminal marks a paste, so a pasted Enter starts a new line instead
// of sending (https://invisible-island.net/xterm/ctlseqs/ctlseqs.html#h2-Bracketed-Paste-Mode).
const BRACKETED_PASTE_ON = '\u001b[?2004h'
const BRACKETED_PASTE_OFF = '\u001b[?2004l'

/** Where the screen draws and reads keys; the process's terminal unless a test passes its own. */
export interface ChatTerminal {
  stdout: NodeJS.WriteStream
  stdin: NodeJS.ReadStream
}

/**
 * `passage chat [contact]`: the interactive screen (Ink). Starts the client (DHT, direct
 * links, super-nodes), opens the contact given (name, text ID or unique prefix) or the most
 * recent conversation, and runs until Esc or Ctrl+C; then stops the client cleanly.
 */
export async function chatCommand(
  contact: string | undefined,
  options: ChatOptions,
  io: CliIo,
  terminal: ChatTerminal = { stdout: process.stdout, stdin: process.stdin },
): Promise<ExitCode> {
  if (terminal.stdin.isTTY !== true) {
    throw new MalformedError(
      'passage chat needs a terminal; in scripts use `passage send` and `passage inbox`',
    )
  }
  const client = await openClient(options, io, { fetchIntervalMs: CHAT_FETCH_INTERVAL_MS })
  try {
    const initial = contact === undefined ? undefined : await conversationOf(client, contact)
    terminal.stdout.write(BRACKETED_PASTE_ON)
    try {
      const app = render(
        createElement(App, {
          client,
          theme: themeFor(io.env),
          ...(initial ? { initialContactId: initial.id } : {}),
          ...(options.bell !== false && { bell: () => terminal.stdout.write(BELL) }),
          gifs: { depth: colorDepthFor(io.env), still: options.animate === false },
        }),
        { stdout: terminal.stdout, stdin: terminal.stdin, exitOnCtrlC: false, patchConsole: true },
      )
      await app.waitUntilExit()
    } finally {
      terminal.stdout.write(BRACKETED_PASTE_OFF)
    }
  } finally {
    await client.close()
  }
  return ExitCode.ok
}
