import { BadChecksumError, NotFoundError, parseContactUri, parseTextId } from '@passage/sdk'
import type { CliIo } from '../cli-io.js'
import { ExitCode } from '../exit-code.js'
import { contactJson } from '../format.js'
import { withClient, type ClientCommandOptions } from '../open-client.js'
import { resolveContact } from '../resolve-contact.js'
import { style } from '../style.js'

/** How long `contacts add` may look a bare text ID's key up on the network. */
const LOOKUP_TIMEOUT_MS = 15_000 // 15 s: a few DHT lookups and super-node requests

export interface ContactsAddOptions extends ClientCommandOptions {
  name?: string
  json?: boolean
}

/**
 * `passage contacts add <text-id | passage: URI> [--name N]`. A URI carries the public key:
 * no network. A bare text ID is a hash: its key is looked up through the super-nodes and
 * the DHT. A typo in the ID is refused before anything else happens.
 */
export async function contactsAddCommand(
  idOrUri: string,
  options: ContactsAddOptions,
  io: CliIo,
): Promise<ExitCode> {
  const input = idOrUri.trim()
  const isUri = input.toLowerCase().startsWith('passage:')
  try {
    // Checked here first, so a typo is reported at once, with no network.
    if (isUri) parseContactUri(input)
    else parseTextId(input)
  } catch (error) {
    if (error instanceof BadChecksumError) {
      throw new BadChecksumError(
        `${input} has a typo: its checksum does not match; check it character by character, or scan their QR code`,
      )
    }
    throw error
  }
  const name = options.name?.trim()
  const contact = await withClient(
    options,
    io,
    { network: !isUri, background: false },
    async (client) => {
      try {
        return await client.contacts.add(input, {
          ...(name ? { name } : {}),
          signal: AbortSignal.timeout(LOOKUP_TIMEOUT_MS),
        })
      } catch (error) {
        if (!isUri && error instanceof NotFoundError) {
          throw new NotFoundError(
            `could not find the public key of ${input} through the super-nodes and the DHT; ask them for their passage: URI (\`passage id\`) and add that`,
          )
        }
        throw error
      }
    },
  )
  if (options.json) {
    io.stdout.write(`${JSON.stringify(contactJson(contact), null, 2)}\n`)
    return ExitCode.ok
  }
  const s = style(io)
  io.stdout.write(
    `${s.green('Added')} ${contact.name ? `${s.bold(contact.name)} ` : ''}${contact.textId}\n`,
  )
  return ExitCode.ok
}

/**
 * `passage contacts remove <contact>`: no longer a contact (its history stays; a new message
 * from it is a contact request). A blocked contact stays blocked.
 */
export async function contactsRemoveCommand(
  text: string,
  options: Pick<ClientCommandOptions, 'home'>,
  io: CliIo,
): Promise<ExitCode> {
  const contact = await withClient(options, io, { network: false }, async (client) => {
    const contact = await resolveContact(client, text)
    await client.contacts.remove(contact.id)
    return contact
  })
  io.stdout.write(
    `Removed ${contact.name ? `${contact.name} (${contact.textId})` : contact.textId}; your history with it stays, and a new message from it is a contact request. To drop its messages instead: passage block ${contact.textId}\n`,
  )
  return ExitCode.ok
}
