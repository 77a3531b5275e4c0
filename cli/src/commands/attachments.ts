import { writeFile } from 'node:fs/promises'
import { basename } from 'node:path'
import {
  AlreadyExistsError,
  MalformedError,
  NotFoundError,
  PassageError,
  TimeoutError,
  type ChatMessage,
  type PassageClient,
} from '@passage/sdk'
import { attachmentJson, byteSize } from '../attachment-text.js'
import type { CliIo } from '../cli-io.js'
import { ExitCode } from '../exit-code.js'
import { withClient, type ClientCommandOptions } from '../open-client.js'
import { showProgress } from '../progress.js'
import { style } from '../style.js'

/** How many messages of each conversation are searched for the ID. */
const SEARCH_LIMIT = 1000 // the most one history page gives

/** A message ID prefix this short matches too much to be meant. */
const MIN_PREFIX = 6

export interface AttachmentsSaveOptions extends ClientCommandOptions {
  force?: boolean
  json?: boolean
  timeout?: string
}

/**
 * `passage attachments save <message> [path]`: writes a message's attachment to `path` (by
 * default its own file name, in this folder). Fetched first when it is not in the home yet
 * (over a link from its sender, or from the DHT), with progress when that takes over a
 * second. Never replaces a file unless `--force`. Exits 1 for an unknown message, an expired
 * or altered attachment (the error says what to do), 3 when it cannot be fetched now.
 */
export async function attachmentsSaveCommand(
  messageText: string,
  path: string | undefined,
  options: AttachmentsSaveOptions,
  io: CliIo,
): Promise<ExitCode> {
  const timeoutMs = options.timeout === undefined ? 120_000 : Number(options.timeout)
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    throw new MalformedError(`--timeout is in milliseconds, got ${options.timeout}`)
  }
  return withClient(options, io, { background: false }, async (client) => {
    const message = await findMessage(client, messageText)
    const info = message.attachment!
    const target = path ?? safeName(info.fileName, message.id, info.contentType)
    const signal = AbortSignal.timeout(timeoutMs)
    const stop = showProgress(client, io.stderr, {
      direction: 'down',
      label: `downloading ${info.fileName ?? 'the attachment'}`,
    })
    const bytes = await client.attachments
      .fetch(message.id, { signal })
      .catch((error: unknown) => {
        if (signal.aborted && !(error instanceof PassageError)) {
          throw new TimeoutError(
            `the attachment did not arrive within ${timeoutMs} ms; run it again (what arrived is kept)`,
          )
        }
        throw error
      })
      .finally(stop)
    await writeFile(target, bytes, { flag: options.force ? 'w' : 'wx' }).catch(
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'EEXIST') {
          throw new AlreadyExistsError(
            `${target} is there already: give another path, or --force to replace it`,
          )
        }
        throw error
      },
    )
    if (options.json) {
      io.stdout.write(
        `${JSON.stringify({ message: message.id, path: target, attachment: attachmentJson(info) }, null, 2)}\n`,
      )
    } else {
      io.stdout.write(`${style(io).green('saved')} ${target} (${byteSize(bytes.byteLength)})\n`)
    }
    return ExitCode.ok
  })
}

/** The message with an attachment whose ID is, or starts with, `text`, in any conversation. */
async function findMessage(client: PassageClient, text: string): Promise<ChatMessage> {
  const wanted = text.trim().toLowerCase()
  if (wanted.length < MIN_PREFIX) {
    throw new MalformedError(
      `give at least ${MIN_PREFIX} characters of the message ID (passage history <contact> --json shows it)`,
    )
  }
  const found = new Map<string, ChatMessage>()
  for (const conversation of await client.conversations()) {
    for (const m of await client.history(conversation.contact.id, { limit: SEARCH_LIMIT })) {
      if (m.id.toLowerCase().startsWith(wanted)) found.set(m.id, m)
    }
  }
  const matches = [...found.values()]
  if (matches.length === 0) {
    throw new NotFoundError(
      `no message ${text}; passage history <contact> shows the IDs of attachments`,
    )
  }
  if (matches.length > 1) {
    throw new MalformedError(`${text} matches ${matches.length} messages: give more of its ID`)
  }
  const message = matches[0]!
  if (!message.attachment) {
    throw new MalformedError(`message ${message.id} is a text: it has nothing to save`)
  }
  return message
}

/** A file name from the sender that is safe here: no folders, no dot files, never empty. */
function safeName(name: string | undefined, id: string, contentType: string): string {
  const own = [...basename((name ?? '').replace(/\\/g, '/'))]
    .filter((c) => c.charCodeAt(0) >= 0x20 && c !== '\x7f')
    .join('')
    .replace(/^\.+/, '')
  if (own !== '') return own
  return `${id.slice(0, 12)}${contentType === 'image/gif' ? '.gif' : ''}`
}
