// The identity's public side alone: not the client (Kysely, sockets), libsignal (the public key
// is kept in the home) nor the rest of the core, so `passage id` starts quickly.
import { encodeContactUri, readHomeCard, toBase64Url } from '@passage/sdk/home'
import type { CliIo } from '../cli-io.js'
import { ExitCode } from '../exit-code.js'
import { home } from '../home.js'
import { style } from '../style.js'
import { table } from '../table.js'

export interface IdOptions {
  home?: string
  qr?: boolean
  json?: boolean
  /** Print the `passage:` URI alone (for `contacts add "$(passage id --uri)"`). */
  uri?: boolean
}

/** `passage id`: shows this home's identity (text ID, URI, optionally a QR code, or JSON). */
export async function idCommand(options: IdOptions, io: CliIo): Promise<ExitCode> {
  const dir = home(options.home, io)
  // Looking creates nothing: a missing identity is reported (`passage init` makes one).
  const { publicKey, name, createdAt, accountKey, textId, deviceId } = await readHomeCard(dir)
  const uri = encodeContactUri({ publicKey: accountKey, ...(name ? { name } : {}) })
  if (options.uri) {
    io.stdout.write(`${uri}\n`)
    return ExitCode.ok
  }
  if (options.json) {
    const json = {
      id: textId,
      publicKey: toBase64Url(accountKey),
      device: deviceId,
      deviceKey: toBase64Url(publicKey),
      name: name ?? null,
      createdAt: new Date(createdAt).toISOString(),
      uri,
      home: dir,
    }
    io.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
    return ExitCode.ok
  }
  const s = style(io)
  io.stdout.write(
    table(
      [
        ['ID', s.bold(textId)],
        ...(name ? [['Name', name] as const] : []),
        [
          'Device',
          deviceId === 0
            ? 'not linked yet (passage init --link)'
            : `${deviceId}${deviceId === 1 ? ' (holds the account key)' : ''}`,
        ],
        ['Created', new Date(createdAt).toISOString()],
        ['Home', dir],
        ['URI', uri],
      ],
      { label: s.dim },
    ),
  )
  if (options.qr) {
    const { qr } = await import('../qr.js')
    io.stdout.write(`\n${await qr(uri, { color: s.color })}`)
  }
  return ExitCode.ok
}
