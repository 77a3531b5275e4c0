import {
  AlreadyExistsError,
  encodeContactUri,
  encodeRecoveryCode,
  MalformedError,
} from '@passage/sdk'
import { initHome, openClientStore, readHome } from '@passage/sdk/node'
import type { CliIo } from '../cli-io.js'
import { ExitCode } from '../exit-code.js'
import { home } from '../home.js'
import { serverUrl } from '../open-client.js'
import { qr } from '../qr.js'
import { style } from '../style.js'
import { table } from '../table.js'
import { recoveryCodeText } from './devices.js'

/** Longest display name accepted by `--name`: it travels in QR codes, keep them scannable. */
const MAX_NAME_LENGTH = 64

export interface InitOptions {
  home?: string
  force?: boolean
  name?: string
  json?: boolean
  /** `--server URL`, repeatable: remembered in the new home. */
  server?: string[]
}

/**
 * `passage init`: creates the identity of a home folder and shows it as text ID, `passage:`
 * URI and QR code. Refuses to replace an existing identity unless `--force`.
 */
export async function initCommand(options: InitOptions, io: CliIo): Promise<ExitCode> {
  const name = options.name?.trim()
  if (name !== undefined && (name.length === 0 || name.length > MAX_NAME_LENGTH)) {
    throw new MalformedError(`--name must be 1 to ${MAX_NAME_LENGTH} characters`)
  }
  const servers = (options.server ?? []).map((url) => serverUrl(url))
  const dir = home(options.home, io)
  let identity
  try {
    ;({ identity } = await initHome(dir, {
      force: options.force === true,
      ...(name !== undefined ? { name } : {}),
    }))
  } catch (error) {
    if (!(error instanceof AlreadyExistsError)) throw error
    const existing = await readHome(dir).catch(() => undefined)
    throw new AlreadyExistsError(
      `${dir} already has an identity (${existing?.identity.textId ?? 'unreadable'}); use --force to replace it (the old identity is then lost for good)`,
    )
  }
  if (servers.length > 0) {
    // Remembered, as every command's --server is: the next commands need no flag.
    const store = await openClientStore(dir, { create: false })
    try {
      for (const url of servers) await store.rememberServer(url)
    } finally {
      await store.close()
    }
  }
  const uri = encodeContactUri({ publicKey: identity.publicKey, ...(name ? { name } : {}) })
  // Shown once, here: the account key, to restore device 1 (`passage init --recover`).
  const recoveryCode = encodeRecoveryCode(identity.secretKey.exportPrivateKey())
  if (options.json) {
    io.stdout.write(
      `${JSON.stringify({ id: identity.textId, uri, name: name ?? null, home: dir, recoveryCode }, null, 2)}\n`,
    )
    return ExitCode.ok
  }
  const s = style(io)
  io.stdout.write(`${s.green('Created a new Passage identity')} in ${dir}\n\n`)
  io.stdout.write(
    table(
      [['ID', s.bold(identity.textId)], ...(name ? [['Name', name] as const] : []), ['URI', uri]],
      { indent: '  ', label: s.dim },
    ),
  )
  io.stdout.write(`\n${await qr(uri, { color: s.color })}\n`)
  io.stdout.write(
    `Share the ID or the QR code with your contacts.\n${s.dim(`Your secret key is in ${dir}: keep it private, back it up.`)}\n\n`,
  )
  io.stdout.write(recoveryCodeText(recoveryCode, s))
  io.stdout.write(
    s.dim('Your other devices: passage init --link on each, then passage devices link.\n'),
  )
  return ExitCode.ok
}
