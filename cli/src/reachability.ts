import { UnreachableError, type PassageClient, type SuperNodeStatus } from '@passage/sdk'
import type { CliIo } from './cli-io.js'
import { style } from './style.js'

/** Why a super-node was not reached, naming it (the SDK's own sentence when it names it). */
function failure(node: SuperNodeStatus): string {
  const error = node.error === undefined ? undefined : oneLine(node.error)
  if (error?.includes(node.url.replace(/\/$/, ''))) return error
  return `could not reach the super-node ${node.url}${error ? ` (${error})` : ''}`
}

/** An error's text on one line, without its class name (`UnreachableError: …`). */
function oneLine(text: string): string {
  return text
    .replace(/^[A-Za-z]*Error: /, '')
    .replace(/\s+/g, ' ')
    .trim()
}

/**
 * Warns on stderr about each super-node that did not answer, with how to forget one that was
 * a typo. Returns how many were warned about.
 */
export function warnUnreachable(client: PassageClient, io: CliIo): number {
  const dead = client.status().superNodes.filter((n) => !n.reachable)
  const s = style(io, io.stderr)
  for (const node of dead) {
    io.stderr.write(
      `${s.yellow('warning:')} ${failure(node)}; if the URL is wrong: passage servers remove ${node.url}\n`,
    )
  }
  return dead.length
}

/**
 * The error for a run that needed the DHT (a mailbox fetch) and never joined it: no
 * super-node configured, or none answered.
 */
export function offlineError(client: PassageClient, what: string): UnreachableError {
  const nodes = client.status().superNodes
  if (nodes.length === 0) {
    return new UnreachableError(
      `${what}: no super-node is configured; pass --server URL once (it is remembered) or set PASSAGE_SERVERS`,
    )
  }
  return new UnreachableError(
    `${what}: ${nodes.map(failure).join('; ')}; passage servers list shows the super-nodes remembered`,
  )
}

/** True when the client joined the DHT (a super-node or a remembered node answered). */
export function joinedDht(client: PassageClient): boolean {
  return client.status().dhtNodes > 0
}
