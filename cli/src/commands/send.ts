import {
  MAX_TEXT_BYTES,
  MalformedError,
  PassageError,
  TimeoutError,
  type PassageClient,
} from '@passage/sdk'
import { attachmentLabel } from '../attachment-text.js'
import type { CliIo } from '../cli-io.js'
import { ExitCode } from '../exit-code.js'
import { contactLabel, messageJson, STATE_WORDS } from '../format.js'
import { withClient, type ClientCommandOptions } from '../open-client.js'
import { showProgress } from '../progress.js'
import { readAttachment } from '../read-attachment.js'
import { joinedDht, offlineError, warnUnreachable } from '../reachability.js'
import { resolveContact } from '../resolve-contact.js'
import { style } from '../style.js'
import { themeFor } from '../ui/theme.js'

/** How long `passage send` waits for the first delivery attempt by default. */
const SEND_TIMEOUT_MS = 30_000 // 30 s: a DHT lookup, a bundle fetch and a mailbox put

export interface SendOptions extends ClientCommandOptions {
  json?: boolean
  timeout?: string
  /** `--gif FILE`: send a GIF, shown animated in the chat screen. */
  gif?: string
  /** `--file FILE`: send any file (8 MiB at most). */
  file?: string
  /** `--caption TEXT`: the attachment's text (the words after the contact also serve). */
  caption?: string
}

/**
 * `passage send <contact> <text…>`, or `--gif FILE` / `--file FILE` [`--caption TEXT`]: for
 * scripts. The contact is a name, a text ID or a unique prefix. Prints the delivery state
 * reached (sent, stored, delivered…). Exits 1 when the contact is unknown or the file cannot
 * be sent (missing, over 8 MiB, not a GIF), 3 when nothing could take the message (a text then
 * stays in the outbox and goes out on a later run) or the attachment could not be uploaded.
 */
export async function sendCommand(
  contactText: string,
  words: string[],
  options: SendOptions,
  io: CliIo,
): Promise<ExitCode> {
  if (options.gif !== undefined || options.file !== undefined) {
    return sendAttachmentCommand(contactText, words, options, io)
  }
  if (options.caption !== undefined) {
    throw new MalformedError('--caption goes with --gif or --file; nothing was sent')
  }
  const text = words.join(' ')
  if (text.trim() === '') {
    throw new MalformedError(
      'nothing to send: give a text, or --gif FILE / --file FILE (passage send --help)',
    )
  }
  const timeoutMs = options.timeout === undefined ? SEND_TIMEOUT_MS : Number(options.timeout)
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    throw new MalformedError(`--timeout is in milliseconds, got ${options.timeout}`)
  }
  // Refused whole, as the chat screen does: never cut, never split behind the user's back.
  const bytes = Buffer.byteLength(text, 'utf8')
  if (bytes > MAX_TEXT_BYTES) {
    throw new MalformedError(
      `the text is ${bytes.toLocaleString('en')} UTF-8 bytes; a message holds at most ${MAX_TEXT_BYTES.toLocaleString('en')}: shorten it or send it in several parts; nothing was sent`,
    )
  }
  const s = style(io)
  return withClient(options, io, { background: false }, async (client) => {
    const contact = await resolveContact(client, contactText)
    const signal = AbortSignal.timeout(timeoutMs)
    const message = await client.send(contact.id, text, { signal }).catch((error: unknown) => {
      // The message was saved in the outbox before the wait began: it is not lost.
      if (signal.aborted && !(error instanceof PassageError)) {
        throw new TimeoutError(
          `no delivery to ${contactLabel(contact)} within ${timeoutMs} ms; the message stays in the outbox and goes out on the next run of passage`,
        )
      }
      throw error
    })
    // Messages an earlier run left in the outbox go out now too (best effort).
    if (message.state !== 'pending') {
      await client.flushOutbox({ signal, all: true }).catch(() => 0)
    }
    warnUnreachable(client, io)
    if (options.json) {
      io.stdout.write(`${JSON.stringify(messageJson(message, contact), null, 2)}\n`)
    } else if (message.state !== 'pending') {
      // The chat screen's mark for the state: `↓` stored, `✓` sent, `✓✓` delivered.
      const mark = themeFor(io.env).marks[message.state]
      io.stdout.write(
        `${s.green(mark)} to ${contactLabel(contact)}: ${STATE_WORDS[message.state]}\n`,
      )
    }
    if (message.state === 'pending') {
      io.stderr.write(
        `${style(io, io.stderr).red('error:')} ${pendingReason(client, contactLabel(contact))}\n`,
      )
      return ExitCode.unreachable
    }
    return ExitCode.ok
  })
}

/**
 * Why a message stayed `pending`, and what happens to it. Online (the DHT answered) yet
 * nothing took it: the contact's keys are not in the DHT, because the contact never came
 * online since it was added; offline: which super-node did not answer.
 */
function pendingReason(client: PassageClient, who: string): string {
  const waits = 'the message waits in the outbox (passage outbox lists it)'
  if (joinedDht(client)) {
    return `${who}'s keys are not published yet (${who} has not been online since getting Passage); ${waits} and goes out on the first online command after ${who} has been online once`
  }
  const reason = offlineError(client, `nothing could take the message to ${who}`).message
  return `${reason}; ${waits} and goes out on the next online command`
}

/** `passage send <contact> --gif FILE | --file FILE [--caption TEXT]`. */
async function sendAttachmentCommand(
  contactText: string,
  words: string[],
  options: SendOptions,
  io: CliIo,
): Promise<ExitCode> {
  if (options.gif !== undefined && options.file !== undefined) {
    throw new MalformedError('--gif or --file, not both: one attachment a message')
  }
  const timeoutMs = options.timeout === undefined ? SEND_TIMEOUT_MS : Number(options.timeout)
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    throw new MalformedError(`--timeout is in milliseconds, got ${options.timeout}`)
  }
  const path = (options.gif ?? options.file)!
  const caption = options.caption ?? (words.length > 0 ? words.join(' ') : undefined)
  // The file is read and checked before the client opens: a refusal costs no network.
  const input = await readAttachment(path, options.gif !== undefined ? 'gif' : 'file', caption)
  const s = style(io)
  return withClient(options, io, { background: false }, async (client) => {
    const contact = await resolveContact(client, contactText)
    const signal = AbortSignal.timeout(timeoutMs)
    const stop = showProgress(client, io.stderr, {
      direction: 'up',
      label: `uploading ${input.fileName}`,
    })
    const message = await client
      .sendAttachment(contact.id, input, { signal })
      .catch((error: unknown) => {
        if (signal.aborted && !(error instanceof PassageError)) {
          throw new TimeoutError(
            `${input.fileName} did not reach ${contactLabel(contact)} within ${timeoutMs} ms; send it again (a longer --timeout may help)`,
          )
        }
        throw error
      })
      .finally(stop)
    warnUnreachable(client, io)
    if (options.json) {
      io.stdout.write(`${JSON.stringify(messageJson(message, contact), null, 2)}\n`)
    } else {
      const theme = themeFor(io.env)
      const what = message.attachment
        ? attachmentLabel(message.attachment, theme.ascii)
        : input.fileName
      const mark = message.state === 'pending' ? '' : `${s.green(theme.marks[message.state])} `
      io.stdout.write(`${mark}${what} to ${contactLabel(contact)}: ${STATE_WORDS[message.state]}\n`)
    }
    return message.state === 'pending' ? ExitCode.unreachable : ExitCode.ok
  })
}
