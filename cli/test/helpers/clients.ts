// Real clients for the CLI's tests: tmp homes, a small in-process DHT testnet on 127.0.0.1,
// no LAN multicast. Everything started here is stopped at teardown.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { PassageClient } from '@passage/sdk'
import { createNodeClient, type NodeClientOptions } from '@passage/sdk/node'
import { createTestnet, type Testnet } from '@passage/sdk/testing'

type T = { teardown(fn: () => unknown): void }

/** A testnet of `n` DHT nodes on 127.0.0.1, destroyed at teardown. */
export async function testnet(t: T, n = 4): Promise<Testnet> {
  const net = await createTestnet(n, { requestTimeoutMs: 200, retries: 2 })
  t.teardown(() => net.destroy())
  return net
}

/** A fresh home folder, removed at teardown. */
export function tmpHome(t: T, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `passage-cli-${name}-`))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A client with a new identity on the testnet; closed at teardown. */
export async function startClient(
  t: T,
  net: Testnet,
  name: string,
  options: Partial<NodeClientOptions> = {},
): Promise<PassageClient> {
  const client = await createNodeClient({
    home: tmpHome(t, name),
    createIdentity: true,
    name,
    dhtBootstrap: net.bootstrap,
    fetchIntervalMs: 3_600_000, // tests fetch explicitly
    lan: false,
    ...options,
  })
  t.teardown(() => client.close())
  return client
}

/** Polls `check` every 20 ms until it returns true or `ms` passed; returns the last answer. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  ms = 15_000,
): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await check()) return true
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return check()
}
