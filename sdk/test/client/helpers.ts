import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ChatMessage, ClientInternals, PassageClient } from '@passage/sdk'
import { createNodeClient, type NodeClientOptions } from '@passage/sdk/node'
import { createTestnet, type Testnet } from '@passage/sdk/testing'

type T = { teardown(fn: () => unknown): void }

/** A testnet of `n` DHT nodes on 127.0.0.1, destroyed at teardown. */
export async function testnet(t: T, n = 6): Promise<Testnet> {
  const net = await createTestnet(n, { requestTimeoutMs: 200, retries: 2 })
  t.teardown(() => net.destroy())
  return net
}

/** A fresh home folder, removed at teardown. */
export function home(t: T, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `passage-client-${name}-`))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Starts a client on the testnet; closed at teardown (closing twice is fine). */
export async function startClient(
  t: T,
  net: Testnet,
  dir: string,
  options: Partial<NodeClientOptions> = {},
  internals: ClientInternals = {},
): Promise<PassageClient> {
  const client = await createNodeClient(
    {
      home: dir,
      createIdentity: true,
      dhtBootstrap: net.bootstrap,
      fetchIntervalMs: 3_600_000,
      background: false, // tests fetch and flush explicitly: results are deterministic
      lan: false,
      ...options,
    },
    internals,
  )
  t.teardown(() => client.close())
  return client
}

/** Collects `message` events until `count` arrived (or `ms` passed). */
export function collect(
  client: PassageClient,
  count: number,
  ms = 20_000,
): { messages: ChatMessage[]; done: Promise<ChatMessage[]> } {
  const messages: ChatMessage[] = []
  const done = new Promise<ChatMessage[]>((resolve) => {
    const timer = setTimeout(() => {
      off()
      resolve(messages)
    }, ms)
    const off = client.on('message', (m) => {
      messages.push(m)
      if (messages.length >= count) {
        clearTimeout(timer)
        off()
        resolve(messages)
      }
    })
  })
  return { messages, done }
}

/** Resolves once `predicate` holds, checking after every event of the client (bounded by `ms`). */
export async function until(
  client: PassageClient,
  predicate: () => Promise<boolean> | boolean,
  ms = 20_000,
): Promise<boolean> {
  const deadline = Date.now() + ms
  for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
    if (await predicate()) return true
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, 50)
      const offs = [
        client.on('delivery', done),
        client.on('message', done),
        client.on('status', done),
      ]
      function done() {
        clearTimeout(timer)
        offs.forEach((off) => off())
        resolve()
      }
    })
  }
  return predicate()
}
