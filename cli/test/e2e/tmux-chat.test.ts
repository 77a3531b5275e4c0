// End to end in a real terminal: the real `passage` program (from source, through tap's
// TypeScript loader) runs `passage chat` for Alice inside tmux (80x24); Bob's `passage send`
// runs as another process; both reach each other through one real super-node started by
// ./super-node.ts as a third process. The screen is read with `tmux capture-pane`, polled
// with a deadline. Alice then answers from the screen (send-keys) and Bob's inbox gets it.
// Everything runs on 127.0.0.1 (PASSAGE_LAN=off: no multicast); all processes and the
// private tmux server (its own -L socket) are stopped at teardown.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { runCli } from '../../src/run-cli.js'
import { captureIo } from '../helpers/capture-io.js'
import { tmpHome } from '@passage/sdk/testing'

/** Bound on one run of a program: the TypeScript loader compiles on first use. */
const RUN_TIMEOUT_MS = 120_000
/** Bound on waiting for something to show on the screen: a cold TypeScript load of the CLI
 * under a loaded CI machine (2 cores, other test files running) took over 45 s once. */
const SCREEN_TIMEOUT_MS = 120_000
/** Bound on a stopped process's exit before it is killed. */
const STOP_TIMEOUT_MS = 5_000

const root = fileURLToPath(new URL('../../../', import.meta.url))
const main = join(root, 'cli', 'src', 'main.ts')
const superNodeScript = join(root, 'cli', 'test', 'e2e', 'super-node.ts')
const loader = import.meta.resolve('@tapjs/typescript/import')
const nodeArgs = ['--conditions=@passage/source', '--import', loader]
const env: Record<string, string> = {
  PATH: process.env.PATH ?? '',
  HOME: process.env.HOME ?? '',
  TS_NODE_PROJECT: join(root, 'tsconfig.test.json'),
  TS_NODE_TRANSPILE_ONLY: '1',
  PASSAGE_LAN: 'off',
}
const tmuxSocket = `passage-e2e-${randomBytes(4).toString('hex')}`

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', tmuxSocket, ...args], {
    encoding: 'utf8',
    timeout: 10_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}

/** Polls the pane until `pattern` shows, up to the deadline; returns the last screen. */
async function screenShows(pattern: RegExp, ms = SCREEN_TIMEOUT_MS): Promise<string> {
  const deadline = Date.now() + ms
  let screen = ''
  for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
    try {
      screen = tmux('capture-pane', '-p', '-t', 'chat')
    } catch {
      screen = '(no pane)'
    }
    if (pattern.test(screen)) return screen
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`the screen did not show ${pattern} within ${ms} ms; it shows:\n${screen}`)
}

/** Stops a child: SIGTERM, then SIGKILL if it has not exited in time. */
function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill('SIGTERM')
  })
}

/** Starts ./super-node.ts and resolves with its URL. */
async function startSuperNode(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [...nodeArgs, superNodeScript], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  t.teardown(() => stop(child))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error('the super-node did not start')),
      RUN_TIMEOUT_MS,
    )
    let out = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8')
      const line = out.split('\n')[0]
      if (out.includes('\n') && line) {
        clearTimeout(timer)
        resolve((JSON.parse(line) as { url: string }).url)
      }
    })
    child.once('exit', (code) => reject(new Error(`the super-node exited (${code})`)))
  })
  return { url, child }
}

/** Runs the real `passage` with `args`; resolves with its exit code and output. */
function passage(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...nodeArgs, main, ...args],
      { cwd: root, env: { ...env, NO_COLOR: '1' }, timeout: RUN_TIMEOUT_MS },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') return reject(error)
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr })
      },
    )
  })
}

/** `passage` in-process, for the setup steps (a child process costs seconds of loading). */
async function inProcess(args: string[]): Promise<string> {
  const io = captureIo({ PASSAGE_LAN: 'off' })
  const code = await runCli(args, io)
  if (code !== 0) throw new Error(`passage ${args.join(' ')}: ${io.err()}`)
  return io.out()
}

// Three programs load TypeScript from source (about 10-20 s each on a loaded machine), and
// the super-node starts an embedded Postgres: more than the suite's default 120 s may pass.
t.setTimeout(480_000)

const shellQuote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`

t.test('passage chat in tmux shows a message sent by passage send, and answers', async (t) => {
  const { url } = await startSuperNode()
  const aliceHome = tmpHome(t, 'alice')
  const bobHome = tmpHome(t, 'bob')
  const alice = JSON.parse(
    await inProcess(['init', '--home', aliceHome, '--name', 'Alice', '--json']),
  ) as { id: string; uri: string }
  const bob = JSON.parse(
    await inProcess(['init', '--home', bobHome, '--name', 'Bob', '--json']),
  ) as { id: string; uri: string }
  await inProcess(['contacts', 'add', bob.uri, '--home', aliceHome])
  await inProcess(['contacts', 'add', alice.uri, '--home', bobHome])
  // Bob comes online once: joins the DHT and publishes his pre-key bundle.
  await inProcess(['inbox', '--server', url, '--home', bobHome])

  // Alice's chat screen, in a terminal of 80x24.
  t.teardown(() => {
    try {
      tmux('kill-server')
    } catch {
      // Already gone: the chat exited and the session with it.
    }
  })
  // `env -i`: the pane gets only these variables. tmux would otherwise hand it the test's own
  // environment, and with CI=true (as in CI) Ink renders nothing until the program exits.
  const command = [
    'env',
    '-i',
    ...Object.entries({ ...env, TERM: 'xterm-256color' }).map(([k, v]) => shellQuote(`${k}=${v}`)),
    shellQuote(process.execPath),
    ...[...nodeArgs, main, 'chat', 'Bob', '--home', aliceHome, '--server', url].map(shellQuote),
  ].join(' ')
  tmux('new-session', '-d', '-s', 'chat', '-x', '80', '-y', '24', '-c', root, command)
  tmux('set-option', '-t', 'chat', 'remain-on-exit', 'off')
  let screen = await screenShows(/Bob · p1\w+…\w+ · (online|offline)/)
  t.match(screen, /Contacts \(1\)/, 'the chat screen is up, on Bob')
  t.match(screen, /super-node ok/, 'and reaches the super-node')

  // Bob writes from another terminal (another process).
  const sent = await passage([
    'send',
    'Alice',
    'hello from the other terminal',
    '--home',
    bobHome,
    '--server',
    url,
  ])
  t.equal(sent.code, 0, sent.stderr)
  t.match(
    sent.stdout,
    /✓ to Alice: (sent over a direct link|stored in the contact's DHT mailbox|delivered to the contact)/,
  )
  screen = await screenShows(/\d\d:\d\d Bob: hello from the other terminal/)
  t.pass('the message shows on Alice’s screen')
  const lines = screen.split('\n')
  t.ok(
    lines.every((line) => [...line].length <= 80),
    'no line wider than the terminal',
  )

  // Alice answers from the keyboard; Bob's inbox gets it.
  tmux('send-keys', '-t', 'chat', '-l', 'hi Bob, got it')
  await screenShows(/› hi Bob, got it/)
  tmux('send-keys', '-t', 'chat', 'Enter')
  screen = await screenShows(/me: hi Bob, got it (✓|↓|✓✓|●)/)
  t.pass('the answer shows with its delivery mark')
  const inbox = JSON.parse(await inProcess(['inbox', '--json', '--home', bobHome])) as Array<{
    text: string
    contactName: string
  }>
  t.match(inbox, [{ text: 'hi Bob, got it', contactName: 'Alice' }], 'Bob received the answer')

  // Esc quits: the program exits and its tmux session ends with it.
  tmux('send-keys', '-t', 'chat', 'Escape')
  const deadline = Date.now() + SCREEN_TIMEOUT_MS
  let open = true
  while (open && Date.now() < deadline) {
    try {
      tmux('has-session', '-t', 'chat')
      await new Promise((resolve) => setTimeout(resolve, 100))
    } catch {
      open = false
    }
  }
  t.notOk(open, 'Esc ends passage chat')
})
