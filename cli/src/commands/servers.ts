import { NotFoundError } from '@passage/sdk'
import { openClientStore } from '@passage/sdk/node'
import type { CliIo } from '../cli-io.js'
import { ExitCode } from '../exit-code.js'
import { home } from '../home.js'
import { serverUrl } from '../open-client.js'
import { style } from '../style.js'

export interface ServersOptions {
  home?: string
  json?: boolean
}

/** Runs `body` on the home's store (which must exist) and closes it. */
async function withStore<T>(
  options: ServersOptions,
  io: CliIo,
  body: (store: Awaited<ReturnType<typeof openClientStore>>) => Promise<T>,
): Promise<T> {
  const store = await openClientStore(home(options.home, io), { create: false })
  try {
    return await body(store)
  } finally {
    await store.close()
  }
}

/**
 * `passage servers list`: the super-nodes this home remembers (every `--server` given is
 * remembered); `PASSAGE_SERVERS`, when set, is used instead of them and is shown.
 */
export async function serversListCommand(options: ServersOptions, io: CliIo): Promise<ExitCode> {
  const servers = await withStore(options, io, (store) => store.rememberedServers())
  const fromEnv = (io.env.PASSAGE_SERVERS ?? '')
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url.length > 0)
  if (options.json) {
    io.stdout.write(`${JSON.stringify({ remembered: servers, environment: fromEnv }, null, 2)}\n`)
    return ExitCode.ok
  }
  const s = style(io)
  if (servers.length === 0) {
    io.stdout.write(
      s.dim('No super-node remembered: pass --server URL once, or passage servers add URL.\n'),
    )
  }
  for (const url of servers) io.stdout.write(`${url}\n`)
  if (fromEnv.length > 0) {
    io.stdout.write(s.dim(`PASSAGE_SERVERS is set: ${fromEnv.join(', ')} is used instead\n`))
  }
  return ExitCode.ok
}

/** `passage servers add <url…>`: remembers super-nodes (`http://` may be omitted). */
export async function serversAddCommand(
  urls: string[],
  options: ServersOptions,
  io: CliIo,
): Promise<ExitCode> {
  const normalised = urls.map((url) => serverUrl(url, 'servers add'))
  await withStore(options, io, async (store) => {
    for (const url of normalised) await store.rememberServer(url)
  })
  for (const url of normalised) io.stdout.write(`Remembered ${url}\n`)
  return ExitCode.ok
}

/**
 * `passage servers remove <url…>`: forgets super-nodes (a typo given to `--server` once is
 * not tried forever). Exit 1, nothing changed, when one is not remembered.
 */
export async function serversRemoveCommand(
  urls: string[],
  options: ServersOptions,
  io: CliIo,
): Promise<ExitCode> {
  const removed = await withStore(options, io, async (store) => {
    const remembered = await store.rememberedServers()
    // As remembered, or as `--server` would have written it.
    const chosen = urls.map((url) => {
      const found = [url, url.replace(/\/$/, ''), serverUrl(url, 'servers remove')].find((u) =>
        remembered.includes(u),
      )
      if (found === undefined) {
        throw new NotFoundError(
          `${url} is not a remembered super-node; passage servers list shows those that are`,
        )
      }
      return found
    })
    for (const url of chosen) await store.forgetServer(url)
    return chosen
  })
  for (const url of removed) io.stdout.write(`Forgot ${url}\n`)
  return ExitCode.ok
}
