import {
  formatLinkCode,
  linkCode,
  MalformedError,
  parseLinkUri,
  toBase64Url,
  type DeviceInfo,
} from '@passage/sdk'
import { ask, type CliIo } from '../cli-io.js'
import { ExitCode } from '../exit-code.js'
import { shortId } from '../format.js'
import { withClient, type ClientCommandOptions } from '../open-client.js'
import { style } from '../style.js'
import { columns } from '../columns.js'

/** How long `devices link` may take: reach the new device, provision it, send the contacts. */
const LINK_TIMEOUT_MS = 60_000
/** How long `devices revoke` and `rename` may take to publish and push the list. */
const CHANGE_TIMEOUT_MS = 30_000

export interface DevicesListOptions extends ClientCommandOptions {
  json?: boolean
}

export interface DevicesLinkOptions extends ClientCommandOptions {
  name?: string
  history?: boolean
  yes?: boolean
  json?: boolean
}

export interface DevicesChangeOptions extends ClientCommandOptions {
  yes?: boolean
  json?: boolean
}

/** A device as JSON for scripts. */
export function deviceJson(device: DeviceInfo) {
  return {
    account: device.account,
    device: device.deviceId,
    name: device.name ?? null,
    state: device.state,
    current: device.current,
    key: toBase64Url(device.publicKey),
    id: device.textId,
    changedAt: device.changedAt === 0 ? null : new Date(device.changedAt).toISOString(),
  }
}

/** `passage devices list`: this account's devices (needs no network). */
export async function devicesListCommand(
  options: DevicesListOptions,
  io: CliIo,
): Promise<ExitCode> {
  const devices = await withClient(options, io, { network: false }, (client) =>
    client.devices.list(),
  )
  if (options.json) {
    io.stdout.write(`${JSON.stringify(devices.map(deviceJson), null, 2)}\n`)
    return ExitCode.ok
  }
  const s = style(io)
  const rows = devices.map((d) => [
    String(d.deviceId),
    d.name ?? (d.deviceId === 1 ? '(first device)' : '—'),
    d.state,
    shortId(d.textId),
    d.changedAt === 0 ? '' : new Date(d.changedAt).toISOString().slice(0, 16).replace('T', ' '),
    d.current ? 'this device' : '',
  ])
  const header = ['ID', 'NAME', 'STATE', 'KEY', 'SINCE', '']
  io.stdout.write(columns([header, ...rows], (text, row) => (row === 0 ? s.dim(text) : text)))
  return ExitCode.ok
}

/**
 * `passage devices link <passage-link:…>` on device 1: shows the confirmation code the new
 * device shows too, asks to compare them (unless `--yes`), then links it.
 */
export async function devicesLinkCommand(
  uri: string,
  options: DevicesLinkOptions,
  io: CliIo,
): Promise<ExitCode> {
  const card = parseLinkUri(uri) // a typo is reported before anything else
  const code = formatLinkCode(linkCode(card.deviceKey, card.ephemeralKey))
  const s = style(io)
  if (!options.yes) {
    io.stderr.write(`The new device must show the code ${s.bold(code)}.\n`)
    const answer = await ask(io, 'Does it? Link it to this account [y/N] ')
    if (answer === undefined) {
      throw new MalformedError(
        `no terminal to confirm on: compare the codes (${code}) and pass --yes to link`,
      )
    }
    if (!/^y(es)?$/i.test(answer)) {
      io.stderr.write('Not linked: the codes must match. Nothing changed.\n')
      return ExitCode.failure
    }
  }
  const name = options.name?.trim()
  const device = await withClient(options, io, { background: false }, (client) => {
    if (!options.json) io.stderr.write(`Linking ${card.name ?? 'the new device'}…\n`)
    return client.devices.approveLink(uri, {
      ...(name ? { name } : {}),
      ...(options.history ? { history: true } : {}),
      signal: AbortSignal.timeout(LINK_TIMEOUT_MS),
    })
  })
  if (options.json) {
    io.stdout.write(`${JSON.stringify(deviceJson(device), null, 2)}\n`)
    return ExitCode.ok
  }
  io.stdout.write(
    `${s.green('Linked')} device ${device.deviceId}${device.name ? ` (${device.name})` : ''}: code ${code}.\n` +
      `Your contacts go to it now${options.history ? ', with your message history' : ''}; your contacts learn of it at once.\n`,
  )
  return ExitCode.ok
}

/** `passage devices revoke <id>` on device 1. */
export async function devicesRevokeCommand(
  id: string,
  options: DevicesChangeOptions,
  io: CliIo,
): Promise<ExitCode> {
  const deviceId = parseDeviceId(id)
  if (!options.yes) {
    const answer = await ask(
      io,
      `Revoke device ${deviceId}? It will get nothing new and what it sends is refused [y/N] `,
    )
    if (answer === undefined) {
      throw new MalformedError('no terminal to confirm on: pass --yes to revoke')
    }
    if (!/^y(es)?$/i.test(answer)) {
      io.stderr.write('Nothing revoked.\n')
      return ExitCode.failure
    }
  }
  const device = await withClient(options, io, { background: false }, async (client) => {
    const revoked = await client.devices.revoke(deviceId, {
      signal: AbortSignal.timeout(CHANGE_TIMEOUT_MS),
    })
    await client.flushOutbox({ signal: AbortSignal.timeout(CHANGE_TIMEOUT_MS) })
    return revoked
  })
  if (options.json) {
    io.stdout.write(`${JSON.stringify(deviceJson(device), null, 2)}\n`)
    return ExitCode.ok
  }
  const s = style(io)
  io.stdout.write(
    `${s.green('Revoked')} device ${device.deviceId}${device.name ? ` (${device.name})` : ''}; your contacts were told.\n` +
      s.dim('What it already received stays readable there: revocation cannot reach back.\n'),
  )
  return ExitCode.ok
}

/** `passage devices rename <id> <name>` on device 1. */
export async function devicesRenameCommand(
  id: string,
  words: string[],
  options: DevicesChangeOptions,
  io: CliIo,
): Promise<ExitCode> {
  const deviceId = parseDeviceId(id)
  const name = words.join(' ').trim()
  if (name.length === 0) throw new MalformedError('give the device a name')
  const device = await withClient(options, io, { background: false }, async (client) => {
    const renamed = await client.devices.rename(deviceId, name, {
      signal: AbortSignal.timeout(CHANGE_TIMEOUT_MS),
    })
    await client.flushOutbox({ signal: AbortSignal.timeout(CHANGE_TIMEOUT_MS) })
    return renamed
  })
  if (options.json) io.stdout.write(`${JSON.stringify(deviceJson(device), null, 2)}\n`)
  else io.stdout.write(`Device ${device.deviceId} is now ${device.name ?? name}.\n`)
  return ExitCode.ok
}

/** `passage devices recovery-code` on device 1: the account's recovery code, with a warning. */
export async function devicesRecoveryCodeCommand(
  options: ClientCommandOptions,
  io: CliIo,
): Promise<ExitCode> {
  const code = await withClient(options, io, { network: false }, async (client) =>
    client.devices.recoveryCode(),
  )
  io.stdout.write(recoveryCodeText(code, style(io)))
  return ExitCode.ok
}

/** The recovery code as shown at `init` and by `devices recovery-code`. */
export function recoveryCodeText(code: string, s: ReturnType<typeof style>): string {
  return (
    `${s.bold('Recovery code')} ${s.dim('(write it down and keep it offline; whoever has it has your account)')}:\n\n` +
    `  ${s.bold(code)}\n\n` +
    `${s.dim('If this device is lost: passage init --recover "<code>" on a new one, then revoke the lost devices.')}\n`
  )
}

function parseDeviceId(text: string): number {
  const id = Number(text)
  if (!/^\d{1,3}$/.test(text.trim()) || id < 1 || id > 127) {
    throw new MalformedError(`not a device ID (1 to 127): ${JSON.stringify(text)}`)
  }
  return id
}
