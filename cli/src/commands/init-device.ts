import {
  AlreadyExistsError,
  formatLinkCode,
  MalformedError,
  TimeoutError,
  type DeviceInfo,
} from '@passage/sdk'
import { homeExists, readHome } from '@passage/sdk/node'
import { ask, type CliIo } from '../cli-io.js'
import { ExitCode } from '../exit-code.js'
import { home } from '../home.js'
import { lanOf, openClient, serversOf, type ClientCommandOptions } from '../open-client.js'
import { qr } from '../qr.js'
import { style } from '../style.js'
import { table } from '../table.js'

/** How long `init --link` waits for device 1 by default. */
const LINK_WAIT_S = 600 // 10 min: walk to the other device, find the terminal, paste

export interface InitLinkOptions extends ClientCommandOptions {
  name?: string
  /** Seconds to wait for the approval. */
  timeout?: string
  json?: boolean
}

export interface InitRecoverOptions extends ClientCommandOptions {
  force?: boolean
  json?: boolean
}

/**
 * `passage init --link`: makes this home a new device of an existing account. Shows a QR
 * code, the `passage-link:` URI and a confirmation code, then waits (Ctrl+C gives up) until
 * device 1 approves it with `passage devices link <uri>`.
 */
export async function initLinkCommand(options: InitLinkOptions, io: CliIo): Promise<ExitCode> {
  const dir = home(options.home, io)
  if (homeExists(dir)) {
    const existing = await readHome(dir).catch(() => undefined)
    if (existing && existing.deviceId !== 0) {
      throw new AlreadyExistsError(
        `${dir} is already device ${existing.deviceId} of ${existing.textId}; link another home (--home)`,
      )
    }
  }
  const waitS = Number(options.timeout ?? LINK_WAIT_S)
  if (!Number.isFinite(waitS) || waitS <= 0)
    throw new MalformedError('--timeout is in seconds, > 0')
  const name = options.name?.trim()
  const client = await openClient(options, io, { link: true, ...(name ? { name } : {}) })
  try {
    const request = await client.devices.requestLink(name ? { name } : {})
    const code = formatLinkCode(request.code)
    const s = style(io)
    if (options.json) {
      io.stdout.write(`${JSON.stringify({ uri: request.uri, code: request.code, home: dir })}\n`)
    } else {
      io.stdout.write(`${s.bold('Link this device to your account')} (home ${dir})\n\n`)
      io.stdout.write(`${await qr(request.uri, { color: s.color })}\n`)
      io.stdout.write(
        table(
          [
            ['URI', request.uri],
            ['Code', s.bold(code)],
          ],
          { label: s.dim },
        ),
      )
      io.stdout.write(
        `\nOn your first device, scan the QR code or run:\n  passage devices link '${request.uri}'\n` +
          `and check that it shows the code ${s.bold(code)}.\n`,
      )
      io.stderr.write(s.dim(`Waiting for your first device… (Ctrl+C to give up)\n`))
    }
    const device = await waitForLink(request.linked, waitS * 1000, () => request.cancel())
    if (device === undefined) {
      io.stderr.write('Not linked: given up. Run passage init --link again for a new code.\n')
      return ExitCode.failure
    }
    if (options.json) {
      io.stdout.write(
        `${JSON.stringify({ linked: true, account: client.textId, device: device.deviceId, name: device.name ?? null })}\n`,
      )
    } else {
      io.stdout.write(
        `${s.green('Linked')}: this is device ${device.deviceId}${device.name ? ` (${device.name})` : ''} of ${s.bold(client.textId)}.\n` +
          s.dim('Your contacts arrive in a moment; start chatting with passage chat.\n'),
      )
    }
    return ExitCode.ok
  } finally {
    await client.close()
  }
}

/** Resolves with the device once linked, `undefined` when interrupted; rejects after `ms`. */
async function waitForLink(
  linked: Promise<DeviceInfo>,
  ms: number,
  cancel: () => void,
): Promise<DeviceInfo | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined
  let onSignal: (() => void) | undefined
  try {
    return await Promise.race([
      linked,
      new Promise<undefined>((resolve) => {
        onSignal = () => {
          cancel()
          resolve(undefined)
        }
        process.once('SIGINT', onSignal)
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          cancel()
          reject(
            new TimeoutError(
              `no approval within ${Math.round(ms / 1000)} s; run passage init --link again (on your first device: passage devices link <uri>)`,
            ),
          )
        }, ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
    if (onSignal) process.off('SIGINT', onSignal)
  }
}

/**
 * `passage init --recover [code]`: restores device 1 of an account from its recovery code
 * (asked for when not given), publishes the account's device list anew, and has the other
 * devices send back the contacts.
 */
export async function initRecoverCommand(
  code: string | undefined,
  options: InitRecoverOptions,
  io: CliIo,
): Promise<ExitCode> {
  const dir = home(options.home, io)
  if (homeExists(dir)) {
    const existing = await readHome(dir).catch(() => undefined)
    if (existing) {
      throw new AlreadyExistsError(
        `${dir} already has an identity (${existing.textId}); recover into another home (--home)`,
      )
    }
  }
  const given = code ?? (await ask(io, 'Recovery code (pr1…): '))
  if (!given) throw new MalformedError('give the recovery code: passage init --recover "pr1 …"')
  if (!serversOf(options, io) && lanOf(io) === false) {
    throw new MalformedError('recovery needs the network: pass --server <super-node>')
  }
  const client = await openClient(options, io, { recover: given, background: false })
  try {
    const own = await client.devices.list()
    const published = own.find((d) => d.deviceId === 1)!.changedAt > 0
    await client.flushOutbox({ signal: AbortSignal.timeout(30_000) }).catch(() => 0)
    const s = style(io)
    if (options.json) {
      io.stdout.write(
        `${JSON.stringify({ account: client.textId, device: 1, published, devices: own.length })}\n`,
      )
    } else {
      io.stdout.write(`${s.green('Restored')} device 1 of ${s.bold(client.textId)} in ${dir}.\n`)
      io.stdout.write(
        published
          ? `Your other devices send the contacts back; revoke any lost one: passage devices list, passage devices revoke <id>.\n`
          : s.red(
              'The network could not be reached to publish the device list: it is retried at the next start (passage inbox --server …).\n',
            ),
      )
    }
    return published ? ExitCode.ok : ExitCode.unreachable
  } finally {
    await client.close()
  }
}
