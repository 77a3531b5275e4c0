// Network namespaces for the tests that need real networks (issue 16): `ip` inside them, and
// scripts run in one (`ip netns exec`) that talk JSON lines on stdin and stdout.
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { createNodeClient } from '@passage/sdk/node'

type Teardown = { teardown(fn: () => unknown): void }

export function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] })
}

/** Creates a namespace named `passage-<label>-<random>` with loopback up; deleted at teardown. */
export function namespace(t: Teardown, label: string): string {
  const ns = `passage-${label}-${randomBytes(3).toString('hex')}`
  try {
    ip('netns', 'add', ns)
  } catch (error) {
    throw new Error(
      `this test creates network namespaces (ip netns add, as root): ${String(error)}`,
    )
  }
  t.teardown(() => ip('netns', 'del', ns))
  ip('-n', ns, 'link', 'set', 'lo', 'up')
  return ns
}

/**
 * Three namespaces: `s` joined by one veth pair to `a` (`<prefix>.1.0/24`, S at `.1`, A at
 * `.2`) and by another to `b` (`<prefix>.2.0/24`); A and B route the other's network through
 * S, which forwards it (`forward`: two machines a router joins) or drops it unanswered (no
 * way between them, as behind NATs). Deleted at teardown.
 */
export function hub(
  t: Teardown,
  prefix: string,
  forward: boolean,
): { s: string; a: string; b: string } {
  const names = { s: namespace(t, 's'), a: namespace(t, 'a'), b: namespace(t, 'b') }
  const flag = forward ? 1 : 0
  ip('netns', 'exec', names.s, 'sh', '-c', `echo ${flag} > /proc/sys/net/ipv4/ip_forward`)
  for (const [side, net, other] of [
    ['a', 1, 2],
    ['b', 2, 1],
  ] as const) {
    const ns = names[side]
    ip('-n', names.s, 'link', 'add', `to-${side}`, 'type', 'veth', 'peer', 'name', 'up0')
    ip('-n', names.s, 'link', 'set', 'up0', 'netns', ns)
    ip('-n', names.s, 'addr', 'add', `${prefix}.${net}.1/24`, 'dev', `to-${side}`)
    ip('-n', ns, 'addr', 'add', `${prefix}.${net}.2/24`, 'dev', 'up0')
    ip('-n', names.s, 'link', 'set', `to-${side}`, 'up')
    ip('-n', ns, 'link', 'set', 'up0', 'up')
    ip('-n', ns, 'route', 'add', `${prefix}.${other}.0/24`, 'via', `${prefix}.${net}.1`)
  }
  return names
}

/** A child process (`script` under this Node with its loader) in `ns`, killed after `maxMs`. */
export function run(
  t: Teardown,
  ns: string,
  script: string,
  env: Record<string, string>,
  maxMs: number,
) {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...process.execArgv, script], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  }) as ChildProcessWithoutNullStreams
  const timer = setTimeout(() => child.kill('SIGKILL'), maxMs)
  let stderr = ''
  child.stderr.on('data', (chunk) => {
    stderr += chunk
    if (process.env.RELAY_DEBUG) process.stderr.write(`[${ns}] ${chunk}`)
  })
  t.teardown(() => {
    clearTimeout(timer)
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  return {
    child,
    async next(): Promise<string> {
      const line = await lines.next()
      if (line.done) throw new Error(`${script} ended: ${stderr.slice(-2000)}`)
      return line.value
    },
    async json<T>(): Promise<T> {
      const value = JSON.parse(await this.next()) as T & { error?: string }
      if (value.error) throw new Error(`${script}: ${value.error} ${stderr.slice(-2000)}`)
      return value
    },
    say(line: unknown) {
      child.stdin.write(`${typeof line === 'string' ? line : JSON.stringify(line)}\n`)
    },
  }
}

/**
 * Runs `script` (under this Node with its loader) with `args` in `ns` to its end, killed after
 * `maxMs`: its exit code (null when killed) and output.
 */
export function exec(
  ns: string,
  script: string,
  args: string[],
  env: Record<string, string>,
  maxMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(
    'ip',
    ['netns', 'exec', ns, process.execPath, ...process.execArgv, script, ...args],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const timer = setTimeout(() => child.kill('SIGKILL'), maxMs)
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => (stdout += chunk))
  child.stderr.on('data', (chunk) => (stderr += chunk))
  return new Promise((resolve, reject) => {
    child.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

/**
 * Alice's and Bob's homes in a fresh folder (removed after `t`), each holding the other as a
 * contact: the namespaces share the file system, so the homes are made here, offline.
 */
export async function contactHomes(
  t: Teardown,
  prefix: string,
): Promise<{ homes: { alice: string; bob: string }; ids: { alice: string; bob: string } }> {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const homes = { alice: join(dir, 'alice'), bob: join(dir, 'bob') }
  const ids = { alice: '', bob: '' }
  const uris = { alice: '', bob: '' }
  for (const name of ['alice', 'bob'] as const) {
    const c = await createNodeClient({
      home: homes[name],
      createIdentity: true,
      name,
      network: false,
    })
    ids[name] = c.textId
    uris[name] = c.contactUri
    await c.close()
  }
  for (const [name, other] of [
    ['alice', 'bob'],
    ['bob', 'alice'],
  ] as const) {
    const c = await createNodeClient({ home: homes[name], network: false })
    await c.contacts.add(uris[other], { name: other })
    await c.close()
  }
  return { homes, ids }
}
